// Small DOM helpers. Everything that comes from the API goes in as text nodes or attribute
// values, never as markup, so a title like <script> shows as those characters.

const SVG = "http://www.w3.org/2000/svg";
const PROPS = new Set(["value", "checked", "disabled", "hidden", "selected", "required", "htmlFor", "tabIndex"]);

/** An element: h("p", {class: "x", on: {click}}, "text", child). Tags "svg:rect" are SVG. */
export function h(tag, props, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key === "text") el.textContent = String(value);
    else if (PROPS.has(key) && !svg) el[key] = value;
    else el.setAttribute(key === "className" ? "class" : key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Say something to screen readers (the page's polite live region). */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

const UNITS = [["d", 86400], ["h", 3600], ["min", 60]];

/** "5 min", "3 h", "2 d": how long ago or until, for queues where the exact time matters less. */
export function span(ms) {
  const seconds = Math.max(0, Math.round(Math.abs(ms) / 1000));
  for (const [unit, size] of UNITS) if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
  return "under 1 min";
}

export function age(iso, now = Date.now()) {
  return iso ? span(now - Date.parse(iso)) : "";
}

/** When something is due: "in 12 min" or "overdue 5 min"; "" when the API sets no target. */
export function due(iso, now = Date.now()) {
  if (!iso || Number.isNaN(Date.parse(iso))) return "";
  const left = Date.parse(iso) - now;
  return left >= 0 ? `in ${span(left)}` : `overdue ${span(left)}`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, {
    dateStyle: "medium", timeStyle: "short",
  });
}

/** A <time> element showing a local date, its machine value the API's ISO string. */
export function time(iso) {
  return h("time", { datetime: iso }, when(iso));
}

export function label(word) {
  return word ? word[0].toUpperCase() + word.slice(1) : "";
}

/** A ticket link: the id is checked, so no data ever becomes a script URL. It stays on one line;
 * where a table cuts an unusually long one short, the title and the link's text keep it whole. */
export function ticketLink(id) {
  const safe = /^[A-Za-z0-9-]{1,32}$/.test(id) ? id : "";
  return h("a", { href: `#/tickets/${encodeURIComponent(safe)}`, class: "ticket-id", title: id }, id);
}

export function badge(kind, value) {
  return h("span", { class: `badge ${kind}-${/^[a-z]+$/.test(value) ? value : "other"}` }, label(value));
}
