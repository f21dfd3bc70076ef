// abrnet viewer, the threshold: an ear's threshold in words and its draggable dashed line on the waterfall. Loaded
// before viewer.js, whose helpers ($, el, fmt, interp, status, keys, correct) and constants it uses when the page
// renders. A threshold is printed in the ear's own level unit, and as no reading where it is none: a placeholder
// above the tested levels (">80") or a bound at the softest one ("≤20").
"use strict";

// the target of a threshold correction: the ear and, where it holds several stimuli, the series' stimulus ("" else)
const thresholdTarget = (ear) => ({ target: "threshold", patient_id: ear.patient_id, ear: ear.ear, stimulus: ear.series_stimulus || "" });

// where p(V) crosses at no tested level the model's threshold is a placeholder, not a reading (threshold_placeholder)
const modelPlaceholder = (ear) => ear.response === "no response" || ear.threshold_above_max_level === true; // corrected or not
const placeholder = (ear) => ear.status === "model" && modelPlaceholder(ear);
// where it already crosses at the softest tested level the threshold is that level or lower (threshold_at_floor): a
// bound, whose SD (often 0) and interval ("20–20 dB") say nothing of certainty
const atFloor = (ear) => ear.status === "model" && !placeholder(ear) && ear.threshold_at_min_level === true;
const levelText = (db) => String(Number(Number(db).toFixed(1))); // 20, 22.5: as the PDF report prints a level
const unitOf = (ear) => ear.level_unit || "dB, unit unknown"; // the file's own level unit (a mouse file: dB SPL)
const FLOOR_WORDS = "wave V at the lowest level tested; nothing softer was recorded";

// the ear's threshold in words, in its own level unit: the expert's value, a placeholder's "above the tested levels",
// a floor's "≤ level", or the model's reading with its SD and 90 % interval
function thresholdText(ear) {
  const unit = unitOf(ear), iv = ear.interval_90_db, top = fmt(ear.max_level_db, 1); // top: the highest tested level
  if (ear.status === "corrected_no_response") {
    const model = modelPlaceholder(ear) ? `model: none up to ${top} dB` : `model ${fmt(ear.model_threshold_db, 1)} dB`;
    return `No response up to ${top} ${unit}* — marked by ${ear.corrected_by} at ${ear.corrected_at} (${model}${ageNote(ear)})`;
  }
  if (ear.status === "corrected") {
    const model = modelPlaceholder(ear) ? `model: none up to ${top} dB` : `model ${fmt(ear.model_threshold_db, 1)} dB`;
    return `Threshold ${fmt(ear.threshold_db, 1)} ${unit}* — corrected by ${ear.corrected_by} at ${ear.corrected_at} (${model}${ageNote(ear)})`;
  }
  if (ear.response === "no response") return `No response up to ${top} ${unit}: threshold above the tested levels`;
  if (placeholder(ear)) { // "uncertain": no crossing either, but the series classifier does not call it no response
    return `The p(V) curve crosses at no tested level up to ${top} ${unit}: threshold above the tested levels; the no-response call is uncertain (P(no response) ${fmt(ear.p_no_response)})`;
  }
  if (atFloor(ear)) return `Threshold ≤ ${levelText(ear.min_level_db)} ${unit} (${FLOOR_WORDS})`;
  return `Threshold ${fmt(ear.threshold_db, 1)} ± ${fmt(ear.threshold_sd_db, 1)} ${unit} (90 % interval ${iv ? fmt(iv[0], 1) + "–" + (iv[1] != null ? fmt(iv[1], 1) : `above ${top}`) : "–"} dB)`; // an open upper bound: past the loudest level
}

// the ear's call: the model's, or once corrected the final one (an expert's threshold is a response, an expert's mark
// "no response") with the model's beside it, labelled as the model's
function callText(ear) {
  const tail = `P(no response) ${fmt(ear.p_no_response)}; class ${ear.class_pred}`;
  if (ear.status === "model") return `${ear.response ? ear.response + " · " : ""}${tail}`;
  const why = ear.status === "corrected" ? "the expert's threshold" : "the expert's mark";
  return `${ear.final_response}* (${why}) · model's call: ${ear.response}, ${tail}`;
}

function thresholdLine(svg, ear, levels, base, x0, x1, yRange) {
  if (ear.threshold_db === null) return;
  // levels run loudest (top) to softest; map dB <-> y by interpolating between the rows (extrapolated linearly)
  // (a repeated level: its top row); raw() and dbAt() are inverses of each other
  const top = new Map();
  levels.forEach((v, k) => { if (!top.has(v)) top.set(v, base(k)); });
  const lv = [...top.keys()].sort((a, b) => a - b), ys = lv.map((v) => top.get(v)), n = lv.length - 1;
  const span = lv[n] - lv[0]; // one distinct level (a single record, or repeats): a row per 10 dB
  const slope = span > 0 ? (ys[n] - ys[0]) / span : -ROW / 10;
  const raw = (db) => (span === 0 || db <= lv[0]) ? ys[0] + (db - lv[0]) * slope
    : db >= lv[n] ? ys[n] + (db - lv[n]) * slope : interp(db, lv, ys);
  const dbAt = (y) => (span === 0 || y >= ys[0]) ? lv[0] + (y - ys[0]) / slope
    : y <= ys[n] ? lv[n] + (y - ys[n]) / slope : interp(y, [...ys].reverse(), [...lv].reverse());
  const yOf = (db) => Math.max(yRange[0], Math.min(yRange[1], raw(db))); // a model value beyond them: at the edge
  // a corrected threshold stays within the tested levels, extended below by one level step (10 dB for one level),
  // never above the loudest (nothing was measured there: the ear's "no response" mark says that), within -20..140 dB
  // and within the drawing, so the line always sits at the value that is saved
  const grid = lv.slice(1).reduce((m, v, k) => Math.min(m, v - lv[k]), Infinity);
  const ext = Number.isFinite(grid) ? grid : 10;
  const lo = Math.ceil(Math.max(-20, lv[0] - ext, dbAt(yRange[1])) * 10) / 10;
  const hi = Math.floor(Math.min(140, lv[n], dbAt(yRange[0])) * 10) / 10;
  const clampDb = (db) => Math.min(hi, Math.max(lo, db));
  const corrected = ear.status === "corrected", above = placeholder(ear); // above: a handle to set one, not a value
  const floor = atFloor(ear), unit = unitOf(ear); // floor: a real level, but a bound ("≤"), not a reading
  const grp = el("g", { class: "threshold" + (corrected ? " corrected" : above ? " placeholder" : ""), "data-value": ear.threshold_db,
    "data-status": ear.status, "data-ear-key": ear.key }, svg);
  const draw = (db) => {
    grp.replaceChildren();
    if (!corrected && !floor && ear.interval_90_db) { // a floor's interval is no measure of certainty
      const ya = yOf(ear.interval_90_db[0]), yb = yOf(ear.interval_90_db[1] ?? ear.max_level_db); // open: to the top
      el("rect", { x: x0, width: x1 - x0, y: Math.min(ya, yb), height: Math.abs(yb - ya), class: "band" }, grp);
    }
    const y = yOf(db);
    el("line", { x1: x0, x2: x1, y1: y, y2: y }, grp);
    el("rect", { x: x0, width: x1 - x0, y: y - 5, height: 10, class: "grip" }, grp);
    const unmoved = (above || floor) && db === ear.threshold_db;
    el("text", { x: x0 - 4, y: y + 4, "text-anchor": "end", fill: corrected ? CORRECTED : "#7b3fa0" }, grp,
      !unmoved ? `${fmt(db, 0)}${corrected ? "*" : ""}` : above ? `>${fmt(ear.max_level_db, 0)}` : `≤${levelText(ear.min_level_db)}`);
    el("title", {}, grp, corrected ? `threshold ${fmt(db, 1)} ${unit}, corrected by ${ear.corrected_by} at ${ear.corrected_at}${modelNote(ear)}`
      : unmoved && above ? `threshold above the tested levels (up to ${fmt(ear.max_level_db, 1)} ${unit}): move the line to set one`
      : unmoved ? `threshold at or below ${levelText(ear.min_level_db)} ${unit} (${FLOOR_WORDS}): move the line to set one`
      : `threshold ${fmt(db, 1)} ± ${fmt(ear.threshold_sd_db, 1)} ${unit} (band: 90 % interval)`);
  };
  draw(ear.threshold_db);
  grp.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    status("");
    const startY = ev.clientY, startDb = ear.threshold_db;
    let db = startDb, dragged = false;
    const startShown = yOf(startDb); // a line shown at the edge starts from the edge
    const move = (e) => {
      dragged ||= Math.abs(e.clientY - startY) >= DRAG_SLACK_PX; // a click is not a move (hunt 50h #2)
      if (!dragged) return;
      db = clampDb(dbAt(startShown + (e.clientY - startY)));
      draw(db);
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      db = Math.round(db * 10) / 10;
      if (dragged && Math.abs(db - startDb) > 0.05) correct({ ...thresholdTarget(ear), value: db });
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
  if (corrected) grp.addEventListener("dblclick", () => correct({ ...thresholdTarget(ear), value: null }));
  keys(grp, `g.threshold[data-ear-key="${CSS.escape(ear.key)}"]`, { ArrowUp: 1, ArrowDown: -1 }, (d) => {
    const body = { ...thresholdTarget(ear), value: null }; // up = louder (1 dB a press; Shift: 10)
    if (d === null) return body;
    body.value = Math.round(clampDb(ear.threshold_db + d) * 10) / 10;
    // at its limit a press saves nothing: it stored "60.0 → 60.0" under a new name and time (hunt 50h #3)
    return Math.abs(body.value - ear.threshold_db) > 1e-6 ? body
      : `the threshold stays at ${fmt(body.value, 1)} ${unit}: the line goes from ${fmt(lo, 1)} to ${fmt(hi, 1)}`;
  }, corrected, { n: () => noResponseBody(ear) }); // N: the expert's "no response"
  sliderValue(grp, ear.threshold_db, lo, hi, grp.querySelector("title").textContent, true);
}
