// abrnet viewer, the audit side: which reading a correction was made on (age, model) and the file's correction
// history. Loaded before viewer.js, whose helpers ($, html, fmt) it uses when the page renders. Everything from users
// and files (reviewer names, patient ids, checkpoint names) goes in as text (textContent), never as markup.
"use strict";

// a corrected value's reading: the age the model read its ear at, and a note when another model than the one that
// reads the file now was corrected (the server writes it: the model values shown beside it are not the corrected ones)
const ageNote = (v) => (v.corrected_reading_age_years === null ? "" : `, read at age ${v.corrected_reading_age_years} years`);
const modelNote = (v) => (v.corrected_model_note ? `; ${v.corrected_model_note}` : "");
const modelName = (checkpoint, sha) => `${String(checkpoint || "unnamed checkpoint").split(/[\\/]/).pop()} (sha256 ${sha.slice(0, 12)})`;

// what one history entry changed, in words: where, from which value to which
function historyWhat(c, data) {
  const peak = c.target === "peak";
  const unit = peak ? "ms" : "dB", d = peak ? 2 : 1;
  const rec = peak ? data.records[c.record] : null;
  const where = peak ? `patient ${c.patient_id}, ear ${c.ear}, ${rec ? fmt(rec.intensity_db, 0) + " dB, " : ""}wave ${c.wave}`
    : `patient ${c.patient_id}, ear ${c.ear}${c.stimulus ? ", " + c.stimulus : ""}, threshold`;
  const to = c.mark ? c.mark : c.value === null ? `back to the model's value (${fmt(c.model_value, d)} ${unit})` : `${fmt(c.value, d)} ${unit}`;
  return `${where}: ${c.previous_mark ? c.previous_mark : `${fmt(c.previous_value, d)} ${unit}`} → ${to}`;
}

// the file's corrections, newest first, in a collapsible list (kept open across the redraw after a correction), and
// above it a line when values in force were corrected against another model than the one reading the file now
function renderHistory(data) {
  const box = $("#history");
  const details = box.querySelector("details");
  const wasOpen = details ? details.open : false;
  box.replaceChildren();
  const values = [...data.ears, ...data.records.flatMap((r) => Object.values(r.waves))];
  const other = values.filter((v) => v.status !== "model" && v.corrected_model_note).length;
  if (other) {
    html("p", { class: "model-note", id: "other-model-note" }, box, `${other} corrected value(s) were made against ` +
      `another model than the one reading this file now, ${modelName(data.checkpoint, data.model_sha256)}: the model ` +
      "values shown beside them are this model's, not the ones corrected (see the correction history).");
  }
  const entries = [...data.corrections].reverse();
  if (!entries.length) return;
  const det = html("details", { class: "history" }, box);
  det.open = wasOpen;
  html("summary", {}, det, `Correction history (${entries.length}, newest first)`);
  const list = html("ol", { reversed: "" }, det);
  for (const c of entries) {
    const li = html("li", { class: "history-entry" + (c.model_note ? " other-model" : ""), "data-created": c.created_at }, list);
    const age = c.age_years === null ? "no single age recorded" : `read at age ${c.age_years} years`;
    const model = c.model_sha256 === null ? "model not recorded" : `model ${modelName(c.model_checkpoint, c.model_sha256)}`;
    html("span", { class: "history-text" }, li, `${c.created_at} · ${c.user} · ${historyWhat(c, data)} (${age}; ${model})`);
    if (c.model_note) html("span", { class: "model-note" }, li, c.model_note);
  }
}
