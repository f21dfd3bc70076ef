// abrnet viewer: the controls marks and threshold lines share (loaded before viewer.js and viewer-threshold.js use
// them at render time): keyboard handling, what a screen reader announces, and when a press becomes a drag.

// pixels a press must move before it is a drag: a click with 1 px of tremor saved a moved latency (hunt 50h #2)
const DRAG_SLACK_PX = 3;

// keyboard access: a mark or threshold line takes focus (Tab); arrows correct it, Delete/Backspace reverts it;
// focus comes back to the same element after the page redraws from the server's answer
function keys(grp, selector, arrows, body, corrected, toggles = {}) {
  grp.setAttribute("tabindex", "0");
  grp.setAttribute("role", "slider");
  grp.setAttribute("aria-label", grp.querySelector("title").textContent);
  const send = (b) => { // b: a correction, [correction, note], or a note alone when there is nothing to save
    if (typeof b === "string") status(b);
    else if (Array.isArray(b)) correct(b[0], selector, b[1]);
    else correct(b, selector);
  };
  grp.addEventListener("keydown", (ev) => {
    if (ev.key in arrows) { status(""); send(body(arrows[ev.key] * (ev.shiftKey ? 10 : 1))); }
    else if ((ev.key === "Delete" || ev.key === "Backspace") && corrected) { status(""); send(body(null)); }
    else if (ev.key.toLowerCase() in toggles && !ev.ctrlKey && !ev.metaKey && !ev.altKey) { status(""); send(toggles[ev.key.toLowerCase()]()); }
    else return;
    ev.preventDefault();
  });
}

// what a screen reader announces of a mark or a threshold line (role slider): its value and range (hunt 50h #4)
function sliderValue(grp, now, min, max, text, vertical = false) {
  for (const [k, v] of [["aria-valuenow", now], ["aria-valuemin", min], ["aria-valuemax", max]]) {
    if (Number.isFinite(v)) grp.setAttribute(k, String(v));
  }
  grp.setAttribute("aria-valuetext", text);
  if (vertical) grp.setAttribute("aria-orientation", "vertical");
}
