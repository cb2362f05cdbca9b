// Form building blocks: every control has a visible label, a hint and an error slot tied to it.

import { h, fill } from "./dom.js";

let serial = 0;

/** A labelled control: {row, control, error}. `control` is an <input>, <select> or <textarea>. */
export function field(labelText, control, hintText = "") {
  const id = control.id || `f${++serial}`;
  control.id = id;
  const hint = h("p", { class: "hint", id: `${id}-hint` }, hintText);
  const error = h("p", { class: "error", id: `${id}-error` });
  control.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  const row = h("div", { class: "field" }, h("label", { for: id }, labelText), control, hint, error);
  return { row, control, hint, error };
}

export function options(select, values, labels = {}) {
  fill(select, values.map(([value, text]) => h("option", { value }, labels[value] || text)));
  return select;
}

/** Show (or clear, with "") an error next to its control. */
export function setError(entry, message) {
  entry.error.textContent = message || "";
  if (message) entry.control.setAttribute("aria-invalid", "true");
  else entry.control.removeAttribute("aria-invalid");
}

/** The API's errors next to their fields; what belongs to no field goes to `general`. */
export function showApiErrors(error, fields, general) {
  const byField = error.byField ? error.byField() : {};
  let first = null;
  let shown = false;
  for (const [name, reason] of Object.entries(byField)) {
    const entry = fields[name];
    if (entry) {
      setError(entry, reason);
      first = first || entry.control;
      shown = true;
    }
  }
  const rest = Object.entries(byField).filter(([name]) => !fields[name]).map(([, reason]) => reason);
  if (!shown || rest.length) {
    general.textContent = rest.length ? rest.join("; ") : error.message;
    general.hidden = false;
  }
  if (first) first.focus();
}

export function alertBox() {
  return h("p", { class: "alert", role: "alert", hidden: true });
}

export function say(box, text) {
  box.textContent = text || "";
  box.hidden = !text;
}

/** Disable a button while its request runs, so a double click sends nothing twice. */
export async function busy(button, work) {
  const focused = document.activeElement === button;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    // A disabled button drops focus: give it back, so keyboard users stay where they were.
    if (focused && button.isConnected && document.activeElement === document.body) button.focus();
  }
}
