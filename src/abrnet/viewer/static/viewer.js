// abrnet viewer: draws each ear's waterfall, marks, threshold and latency-intensity plot from /api JSON (SVG, no
// framework, no build). Corrections are sent to the server on release and the page redraws from its answer, so
// what is shown is always what is stored.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = { I: "#1f77b4", III: "#2ca02c", V: "#d62728" };
const CORRECTED = "#ff7f0e";
const W = 640, LEFT = 56, RIGHT = 70, TOP = 18, ROW = 46;
let current = null; // the last payload from the server
let selected = null; // the wave mark last clicked or focused ({record, wave, earKey}): what "Wave absent" marks
// the upload form's reading settings (input id, the field the server reads) and how the page names the options
const READING_FIELDS = [["#age", "age_years"], ["#rate", "stimulus_rate_hz"], ["#level", "level_db"], ["#ear", "ear"], ["#fmp", "fmp"]];
const FORM_FIELDS = { stimulus_rate_hz: "Rate (/s)", level_db: "Level (dB)", ear: "Ear", fmp: "FMP", invert: "Invert" };

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
function html(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
const fmt = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
function status(msg, isError = false) {
  const s = $("#status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}
function interp(x, xs, ys) { // linear interpolation, xs ascending
  if (x <= xs[0]) return ys[0];
  if (x >= xs[xs.length - 1]) return ys[ys.length - 1];
  let i = 1;
  while (xs[i] < x) i++;
  const f = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + f * (ys[i] - ys[i - 1]);
}

async function api(url, options = {}) {
  const res = await fetch(url, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw Object.assign(new Error((body && body.detail) ? String(body.detail) : `HTTP ${res.status}`), { status: res.status });
  return body;
}

// ------------------------------------------------------------------------------------------------ waterfall
function waterfall(ear, data) {
  const recs = ear.records.map((i) => data.records[i]);
  const t = data.time_ms;
  const height = TOP + ROW * Math.max(recs.length, 1) + 34;
  const svg = el("svg", { width: W, height, class: "waterfall", "data-ear-key": ear.key });
  const x0 = LEFT, x1 = W - RIGHT;
  const xOf = (ms) => x0 + (ms - t[0]) / (t[t.length - 1] - t[0]) * (x1 - x0);
  const tOf = (px) => Math.min(t[t.length - 1], Math.max(t[0], t[0] + (px - x0) / (x1 - x0) * (t[t.length - 1] - t[0])));
  const ptp = recs.map((r) => Math.max(...r.signal) - Math.min(...r.signal)).sort((a, b) => a - b);
  const gain = (ROW * 0.7) / Math.max(ptp[Math.floor(ptp.length / 2)] || 1, 1e-6);
  const base = (k) => TOP + (k + 0.5) * ROW;
  // axis
  const yAxis = TOP + ROW * recs.length + 6;
  el("line", { x1: x0, x2: x1, y1: yAxis, y2: yAxis, class: "axis" }, svg);
  for (let ms = Math.ceil(t[0]); ms <= t[t.length - 1]; ms += 1) {
    el("line", { x1: xOf(ms), x2: xOf(ms), y1: yAxis, y2: yAxis + 4, class: "axis" }, svg);
    el("text", { x: xOf(ms), y: yAxis + 16, "text-anchor": "middle" }, svg, String(ms));
  }
  el("text", { x: (x0 + x1) / 2, y: yAxis + 28, "text-anchor": "middle" }, svg, "time (ms)");
  // threshold first, so marks stay on top of its grip
  const levels = recs.map((r) => r.intensity_db);
  if (recs.length) thresholdLine(svg, ear, levels, base, x0, x1, [4, yAxis - 2]); // one level too: it can be corrected
  recs.forEach((rec, k) => {
    const y0 = base(k);
    const clip = (v) => Math.max(y0 - 0.98 * ROW, Math.min(y0 + 0.98 * ROW, y0 - v * gain)); // large artefacts clipped
    const d = rec.signal.map((v, j) => `${j ? "L" : "M"}${xOf(t[j]).toFixed(1)},${clip(v).toFixed(1)}`).join("");
    el("path", { d, class: "trace", "data-record": rec.index }, svg);
    el("text", { x: x1 + 6, y: y0 + 4 }, svg, `${levelText(rec.intensity_db)} dB`); // 22.5, not "23"
    for (const w of data.waves) {
      const wave = rec.waves[w];
      if (wave.latency_ms === null && !(wave.status === "corrected_absent" && wave.model_latency_ms !== null)) continue;
      mark(svg, rec, w, wave, { xOf, tOf, y0, gain, t, waves: data.waves });
    }
  });
  scaleBar(svg, gain, x1 + 52, yAxis - 4);
  return svg;
}

// a vertical µV bar (1-2-5 steps, at most 0.8 of a row): the traces share one scale, and without a bar a file in the
// wrong unit (nV read as µV) looked like a normal ABR
function scaleBar(svg, gain, x, yBottom) {
  const room = (0.8 * ROW) / gain, exp = Math.floor(Math.log10(room));
  const uv = [5, 2, 1].map((f) => f * 10 ** exp).find((v) => v <= room) || 10 ** exp;
  el("line", { x1: x, x2: x, y1: yBottom - uv * gain, y2: yBottom, class: "scale-bar", stroke: "#000", "stroke-width": 2 }, svg);
  el("text", { x: x - 4, y: yBottom + 16, "text-anchor": "end", class: "scale-bar-label" }, svg, `${Number(uv.toPrecision(3))} µV`);
}

// where a peak may go: inside the window and in wave order (I < III < V) with the record's other marks, kept
// `gap` ms clear of them so that both stay visible and can be grabbed; loW/hiW name the neighbour that sets a bound
function peakBounds(rec, w, g, gap) {
  const k = g.waves.indexOf(w);
  let lo = g.t[0], hi = g.t[g.t.length - 1], loW = null, hiW = null;
  g.waves.forEach((w2, j) => {
    const v = rec.waves[w2].latency_ms;
    if (j === k || v === null) return;
    if (j < k && v + gap > lo) { lo = v + gap; loW = w2; }
    if (j > k && v - gap < hi) { hi = v - gap; hiW = w2; }
  });
  return { lo: Math.ceil(lo * 1000) / 1000, hi: Math.floor(hi * 1000) / 1000, loW, hiW };
}
function orderNote(w, b, ms) { // the status line's note when a move stopped at a neighbour; null when it did not
  if (b.loW && ms <= b.lo) return `wave ${w} stops just after wave ${b.loW} (peaks keep the order I < III < V)`;
  if (b.hiW && ms >= b.hi) return `wave ${w} stops just before wave ${b.hiW} (peaks keep the order I < III < V)`;
  return null;
}

function mark(svg, rec, w, wave, g) {
  const gone = wave.status === "corrected_absent"; // the expert's "absent": drawn as an x at the model's latency
  const corrected = wave.status === "corrected" || gone;
  const at = gone ? wave.model_latency_ms : wave.latency_ms;
  const color = corrected ? CORRECTED : COLORS[w];
  const cls = `mark wave-${w}` + (gone ? " corrected-absent" : corrected ? " corrected" : "") + (wave.present || corrected ? "" : " absent");
  const grp = el("g", {
    class: cls, "data-record": rec.index, "data-wave": w, "data-latency": wave.latency_ms ?? "", "data-status": wave.status,
  }, svg);
  const select = () => { selected = { record: rec.index, wave: w, earKey: rec.ear_key }; };
  grp.addEventListener("focus", select);
  const yAt = (ms) => g.y0 - interp(ms, g.t, rec.signal) * g.gain;
  const draw = (ms) => {
    grp.replaceChildren();
    const x = g.xOf(ms), y = yAt(ms);
    if (!corrected && wave.latency_sd_ms) {
      el("line", { x1: g.xOf(ms - wave.latency_sd_ms), x2: g.xOf(ms + wave.latency_sd_ms), y1: y, y2: y,
        stroke: color, class: "sd" }, grp);
    }
    if (gone) {
      el("path", { d: `M${x - 5},${y - 5}L${x + 5},${y + 5}M${x - 5},${y + 5}L${x + 5},${y - 5}`, stroke: color, "stroke-width": 2.5 }, grp);
      el("circle", { cx: x, cy: y, r: 6, fill: "transparent", stroke: "none" }, grp); // something to grab
    } else el("circle", { cx: x, cy: y, r: 5, fill: wave.present || corrected ? color : "#fff", stroke: color }, grp);
    el("text", { x, y: y - 8, "text-anchor": "middle", fill: color }, grp, w + (gone ? " absent*" : corrected ? "*" : ""));
    const tip = gone
      ? `wave ${w}: absent, marked by ${wave.corrected_by} at ${wave.corrected_at} (model ${fmt(wave.model_latency_ms)} ms, P(present) ${fmt(wave.presence_prob)}${ageNote(wave)})${modelNote(wave)}; Delete or double-click: back to the model`
      : corrected
      ? `wave ${w}: ${fmt(ms)} ms, corrected by ${wave.corrected_by} at ${wave.corrected_at} (model ${fmt(wave.model_latency_ms)} ms${ageNote(wave)})${modelNote(wave)}`
      : `wave ${w}: ${fmt(ms)} ± ${fmt(wave.latency_sd_ms)} ms, P(present) ${fmt(wave.presence_prob)}`;
    el("title", {}, grp, tip);
  };
  draw(at);
  const step = g.t[1] - g.t[0];
  const scale = (g.t[g.t.length - 1] - g.t[0]) / (g.xOf(g.t[g.t.length - 1]) - g.xOf(g.t[0])); // ms per px
  const b = peakBounds(rec, w, g, Math.max(step, 10 * scale)); // 10 px: two marks' radii
  const noRoom = `wave ${w} cannot move: waves ${b.loW} and ${b.hiW} leave no room for it (order I < III < V)`;
  grp.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    select();
    grp.focus({ preventScroll: true });
    if (b.lo > b.hi) { status(noRoom, true); return; }
    status("");
    const startX = ev.clientX, startMs = at;
    let ms = startMs, dragged = false;
    const move = (e) => {
      dragged ||= Math.abs(e.clientX - startX) >= DRAG_SLACK_PX;
      if (dragged) { ms = Math.min(b.hi, Math.max(b.lo, startMs + (e.clientX - startX) * scale)); draw(ms); }
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      ms = Math.round(ms * 1000) / 1000;
      if (dragged && Math.abs(ms - startMs) > 1e-3) correct({ target: "peak", record: rec.index, wave: w, value: ms }, null, orderNote(w, b, ms));
      else status(orderNote(w, b, ms) || "");
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
  if (corrected) grp.addEventListener("dblclick", () => correct({ target: "peak", record: rec.index, wave: w, value: null }));
  // keyboard: one sample per arrow press (Shift: ten), Delete reverts, A marks the wave absent (again: reverts); a
  // move stops short of the next wave
  keys(grp, `g.mark[data-record="${rec.index}"][data-wave="${w}"]`, { ArrowLeft: -step, ArrowRight: step }, (d) => {
    const body = { target: "peak", record: rec.index, wave: w, value: null };
    if (d === null) return body;
    if (b.lo > b.hi) return noRoom;
    body.value = Math.round(Math.min(b.hi, Math.max(b.lo, at + d)) * 1000) / 1000;
    const note = orderNote(w, b, body.value);
    return Math.abs(body.value - at) > 1e-6 ? [body, note] : note;
  }, corrected, { a: () => absentBody(rec.index, w) });
  sliderValue(grp, at, b.lo, b.hi, `${fmt(at)} ms`);
}


// the correction "wave absent" for a mark, or back to the model's value when it is marked absent already
function absentBody(record, w) {
  const body = { target: "peak", record, wave: w, value: null };
  if (current.records[record].waves[w].status !== "corrected_absent") body.absent = true;
  return body;
}
// the correction "no response" for an ear, or back to the model's reading when it is marked so already
function noResponseBody(ear) {
  const body = { ...thresholdTarget(ear), value: null };
  if (ear.status !== "corrected_no_response") body.no_response = true;
  return body;
}


// ------------------------------------------------------------------------------------------------ latency-intensity
function latencyIntensity(ear, data) {
  const Wd = 420, H = 250, l = 46, r = 12, top = 14, bottom = 36;
  const svg = el("svg", { width: Wd, height: H, class: "latint", "data-ear-key": ear.key });
  const pts = [];
  for (const i of ear.records) {
    const rec = data.records[i];
    for (const w of data.waves) {
      const wave = rec.waves[w];
      if (wave.latency_ms === null || !(wave.present || wave.status === "corrected")) continue;
      pts.push({ x: rec.intensity_db, y: wave.latency_ms, sd: wave.status === "corrected" ? 0 : (wave.latency_sd_ms || 0), w, c: wave.status === "corrected" });
    }
  }
  const lv = ear.records.map((i) => data.records[i].intensity_db);
  const xa = Math.min(...lv) - 5, xb = Math.max(...lv) + 5;
  const ya = Math.max(0, Math.min(...pts.map((p) => p.y - p.sd), 1) - 0.3), yb = Math.max(...pts.map((p) => p.y + p.sd), 8) + 0.3;
  const X = (v) => l + (v - xa) / (xb - xa) * (Wd - l - r), Y = (v) => H - bottom - (v - ya) / (yb - ya) * (H - top - bottom);
  el("line", { x1: l, x2: Wd - r, y1: H - bottom, y2: H - bottom, class: "axis" }, svg);
  el("line", { x1: l, x2: l, y1: top, y2: H - bottom, class: "axis" }, svg);
  for (let v = Math.ceil(xa / 10) * 10; v <= xb; v += 10) el("text", { x: X(v), y: H - bottom + 14, "text-anchor": "middle" }, svg, String(v));
  for (let v = Math.ceil(ya); v <= yb; v += 1) el("text", { x: l - 6, y: Y(v) + 4, "text-anchor": "end" }, svg, String(v));
  el("text", { x: (l + Wd - r) / 2, y: H - 6, "text-anchor": "middle" }, svg, `intensity (${unitOf(ear)})`);
  el("text", { x: 12, y: top + (H - top - bottom) / 2, transform: `rotate(-90 12 ${top + (H - top - bottom) / 2})`, "text-anchor": "middle" }, svg, "latency (ms)");
  if (ear.threshold_db !== null && !placeholder(ear) && ear.threshold_db >= xa && ear.threshold_db <= xb) {
    el("line", { x1: X(ear.threshold_db), x2: X(ear.threshold_db), y1: top, y2: H - bottom, stroke: ear.status === "corrected" ? CORRECTED : "#7b3fa0", "stroke-dasharray": "4 3" }, svg);
  }
  for (const p of pts) {
    const color = p.c ? CORRECTED : COLORS[p.w];
    if (p.sd) el("line", { x1: X(p.x), x2: X(p.x), y1: Y(p.y - p.sd), y2: Y(p.y + p.sd), stroke: color }, svg);
    if (p.c) el("rect", { x: X(p.x) - 4, y: Y(p.y) - 4, width: 8, height: 8, fill: color, class: "li-point corrected" }, svg);
    else el("circle", { cx: X(p.x), cy: Y(p.y), r: 3.5, fill: color, class: "li-point" }, svg);
  }
  data.waves.forEach((w, k) => el("text", { x: l + 8 + 40 * k, y: top + 4, fill: COLORS[w] }, svg, `● ${w}`));
  return svg;
}

// ------------------------------------------------------------------------------------------------ page
function domainText(obj) {
  const items = Object.entries(obj || {}).filter(([, v]) => v !== null && v !== "" && v !== false && v !== "in");
  return items.map(([k, v]) => (k === "domain" ? String(v) : `${k}: ${v}`)).join("; ");
}

function render(data) {
  current = data;
  $("#help").hidden = false;
  const opts = data.reading_options || {}; // in the form's order
  const given = Object.keys(FORM_FIELDS).filter((k) => k in opts).map((k) => `${FORM_FIELDS[k]} ${opts[k]}`).join(", ");
  $("#file-info").textContent = `${data.filename} — ${data.n_records} records, ${data.ears.length} ear(s); sha256 ${data.file_hash.slice(0, 12)}…` +
    (given ? `; read with the form's ${given}` : "");
  const warn = $("#warnings");
  warn.replaceChildren();
  for (const w of data.warnings) html("li", {}, warn, w);
  const ex = $("#exports");
  ex.replaceChildren();
  html("a", { id: "export-csv", href: `/api/files/${data.file_hash}/export.csv`, download: "" }, ex, "Export CSV");
  for (const pid of [...new Set(data.ears.map((e) => e.patient_id))]) {
    html("a", { class: "export-pdf", "data-patient": pid, href: `/api/files/${data.file_hash}/report/${encodeURIComponent(pid)}.pdf`, target: "_blank" }, ex, `PDF report ${pid}`);
  }
  renderHistory(data); // viewer-audit.js: the corrections' history and any made against another model
  const box = $("#ears");
  box.replaceChildren();
  for (const ear of data.ears) {
    const sec = html("section", { class: "ear", "data-ear-key": ear.key }, box);
    html("h2", {}, sec, `Patient ${ear.patient_id}, ear ${ear.ear}` + (ear.series_stimulus ? `, ${ear.series_stimulus}` : ""));
    const domains = [domainText(ear.domain), ...ear.records.map((i) => domainText(data.records[i].domain))].filter((s) => s);
    if (domains.length) html("div", { class: "domain" }, sec, `Input domain: ${[...new Set(domains)].join(" | ")}`);
    const body = html("div", { class: "ear-body" }, sec);
    body.appendChild(waterfall(ear, data));
    const side = html("div", { class: "side" }, body);
    const corr = ear.status === "corrected";
    html("p", { class: "threshold-text" + (corr ? " corrected" : ""), "data-value": ear.threshold_db }, side, thresholdText(ear) + (ear.threshold_note ? ` — note: ${ear.threshold_note}` : "")); // flags.py
    if (corr && ear.corrected_model_note) html("p", { class: "model-note threshold-model-note" }, side, `Threshold ${ear.corrected_model_note}`);
    html("p", { class: "call", "data-final-response": ear.final_response ?? "" }, side, callText(ear));
    const tools = html("div", { class: "mark-tools" }, side);
    const nr = html("button", { type: "button", class: "no-response" }, tools,
      ear.status === "corrected_no_response" ? "Undo “no response”" : "Mark ear: no response (N)");
    nr.title = "The expert's call: this ear responds at no tested level (its threshold line, key N, does the same)";
    nr.addEventListener("click", () => correct(noResponseBody(ear)));
    const ab = html("button", { type: "button", class: "wave-absent" }, tools, "Selected wave: absent / back (A)");
    ab.title = "Click a wave's mark first: marks that wave absent in its record (or, if marked, returns it to the model)";
    ab.addEventListener("click", () => {
      // the mark must be this ear's in the file shown now (a selection made in another file carried over: hunt 50h #1)
      if (!selected || selected.earKey !== ear.key || current.records[selected.record]?.ear_key !== ear.key) { status("Click a wave's mark in this ear first, then this button (or press A on the mark).", true); return; }
      correct(absentBody(selected.record, selected.wave));
    });
    html("p", { class: "age", "data-age": ear.age_years ?? "" }, side, ear.age_years === null ? "Read at the file's own ages (no single age)" : `Read by the model at age ${ear.age_years} years`);
    for (const c of data.class_names) {
      const p = ear.class_prob[c] || 0;
      const row = html("div", { class: "prob" + (c === ear.class_pred ? " pred" : ""), "data-class": c }, side);
      html("span", { class: "name" }, row, c);
      html("span", { class: "bar", style: `width:${(140 * p).toFixed(1)}px` }, row);
      html("span", {}, row, fmt(p));
    }
    side.appendChild(latencyIntensity(ear, data));
    const n = ear.records.reduce((s, i) => s + Object.values(data.records[i].waves).filter((w) => w.status.startsWith("corrected")).length, 0);
    if (n) html("p", { class: "corrected-note" }, side, `${n} corrected peak(s) (orange, *)`);
  }
}

// a correction carries the age of the reading it was made on: the ear's age as shown here (the server refuses it with
// 409 if the file was analysed again at another age since); on a 409 the page reloads the file's current reading
async function correct(body, refocus = null, note = null) {
  if (!current) return;
  body.user = $("#user").value.trim();
  const ear = current.ears.find((e) => (body.target === "peak" ? e.key === current.records[body.record].ear_key
    : e.patient_id === body.patient_id && e.ear === body.ear && (e.series_stimulus || "") === (body.stimulus || "")));
  body.age_years = ear ? ear.age_years : null;
  body.reading_options = current.reading_options || {}; // the file's options this reading was made with
  body.expected_previous = shownNow(body, ear); // what this page shows for the target: 409 if changed since
  try {
    render(await api(`/api/files/${current.file_hash}/corrections`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }));
    const done = body.absent ? "Marked absent." : body.no_response ? "Marked no response." : body.value === null ? "Reverted to the model's value." : "Correction saved.";
    status(done + (note ? ` (${note})` : ""));
  } catch (e) {
    const fresh = e.status === 409 ? await api(`/api/files/${current.file_hash}`).catch(() => null) : null;
    render(fresh || current);
    status(e.message + (fresh ? " (Reloaded: the page now shows the current reading.)" : ""), true);
  }
  if (refocus) { const again = document.querySelector(refocus); if (again) again.focus(); }
}

// what the page shows for a correction's target, as the server compares it: null (the model's), a number, or a mark
function shownNow(body, ear) {
  const v = body.target === "peak" ? current.records[body.record].waves[body.wave] : ear;
  if (!v || v.status === "model" || v.status === "ear_no_response") return null; // not corrected itself
  if (v.status === "corrected_absent") return "absent";
  if (v.status === "corrected_no_response") return "no response";
  return body.target === "peak" ? v.latency_ms : v.threshold_db;
}

// nothing of a file stays on screen (nor in the address) once another is asked for: while it is analysed, and if it
// fails, one patient's results must never sit under a message naming another file
function clearView() {
  current = null;
  selected = null;
  history.replaceState(null, "", location.pathname + location.search);
  $("#help").hidden = true;
  for (const id of ["#file-info", "#warnings", "#exports", "#history", "#ears"]) $(id).replaceChildren();
}

async function upload(ev) {
  ev.preventDefault();
  const file = $("#file").files[0];
  if (!file) { status("Choose a file first.", true); return; }
  const form = new FormData();
  form.append("file", file);
  for (const [id, name] of READING_FIELDS) if ($(id).value.trim() !== "") form.append(name, $(id).value.trim());
  if ($("#invert").checked) form.append("invert", "true");
  form.append("user", $("#user").value.trim());
  clearView();
  status(`Analysing ${file.name}…`);
  try {
    const data = await api("/api/analyze", { method: "POST", body: form });
    history.replaceState(null, "", `#file=${data.file_hash}`);
    render(data);
    status(`${file.name}: ${data.n_records} records analysed.`);
  } catch (e) { status((e.status === 413 ? `${file.name}: ` : "") + e.message, true); } // 413 comes before the name is read
}

async function start() {
  const user = $("#user");
  user.value = localStorage.getItem("abrnet-user") || "";
  user.addEventListener("change", () => localStorage.setItem("abrnet-user", user.value.trim()));
  $("#upload-form").addEventListener("submit", upload);
  const m = location.hash.match(/file=([0-9a-f]{64})/);
  if (m) {
    try {
      const data = await api(`/api/files/${m[1]}`);
      render(data);
      const opts = data.reading_options || {}; // the form's options the file is read with, back in their fields
      for (const [id, name] of READING_FIELDS) if (name in opts) $(id).value = opts[name];
      $("#invert").checked = opts.invert === true;
      $("#age").value = data.form_age_years ?? ""; // the form's Age the file was read at, if any
      status("Reopened with its corrections.");
    } catch (e) { status(e.message, true); }
  }
}
start();
