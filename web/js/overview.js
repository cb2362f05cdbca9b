// Support staff's overview: small charts computed from the API's ticket lists.

import { h, fill, label, span } from "./dom.js";
import { ApiError, api, query } from "./api.js";
import { breachesOf } from "./list.js";
import { TYPES } from "./guide.js";
import { alertBox, say } from "./ui.js";

const DAYS = 14;
const PAGES = 5;
const DAY_MS = 86400000;

export async function renderOverview(ctx) {
  const error = alertBox();
  const cards = h("div", { class: "cards", "aria-busy": "true" }, h("p", { class: "muted" }, "Counting…"));
  fill(ctx.main, h("h1", { tabindex: "-1" }, "Overview"),
    h("p", null, `The last ${DAYS} days, from the API's ticket lists.`), error, cards);

  let tickets;
  let urgent;
  let breached;
  try {
    [tickets, urgent, breached] = await Promise.all([
      recent(),
      api("GET", `/tickets${query({ type: "incident", priority: "urgent", status: "open", limit: "100" })}`),
      missed(),
    ]);
  } catch (exc) {
    if (ctx.alive()) say(error, exc.message);
    return;
  }
  if (!ctx.alive()) return;
  cards.setAttribute("aria-busy", "false");
  const days = lastDays();
  fill(cards,
    openUrgent(urgent.items),
    perDay(tickets, days),
    timeToAcknowledge(tickets),
    breaches(breached, days));
}

/** Tickets that missed a target (`?sla=breached`, newest first); null when the API reports no targets. */
async function missed() {
  let items = [];
  let token = null;
  let capped = false;
  for (let page = 0; page < PAGES; page += 1) {
    let got;
    try {
      got = await api("GET", `/tickets${query({ sla: "breached", limit: "100", next_token: token })}`);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 422) return null; // `sla` unknown to this API
      throw exc;
    }
    // An API without targets ignores `sla` and lists every ticket, none of them with `breached`.
    if (got.items.length && !got.items.some((t) => "breached" in t)) return null;
    items = items.concat(got.items.filter((t) => breachesOf(t).length));
    token = got.next_token;
    capped = Boolean(token);
    if (!token) break;
  }
  return { items, capped };
}

async function recent() {
  const since = Date.now() - DAYS * DAY_MS;
  let items = [];
  let token = null;
  for (let page = 0; page < PAGES; page += 1) {
    const got = await api("GET", `/tickets${query({ limit: "100", next_token: token })}`);
    items = items.concat(got.items);
    token = got.next_token;
    const last = got.items[got.items.length - 1];
    if (!token || !last || Date.parse(last.created_at) < since) break;
  }
  return items.filter((t) => Date.parse(t.created_at) >= since);
}

function lastDays() {
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  return Array.from({ length: DAYS }, (_, i) => new Date(today.getTime() - (DAYS - 1 - i) * DAY_MS).toISOString().slice(0, 10));
}

function card(title, ...body) {
  return h("section", { class: "card" }, h("h2", null, title), body);
}

function openUrgent(items) {
  const oldest = items.reduce((min, t) => (t.created_at < min ? t.created_at : min), "9999");
  return card("Open urgent incidents",
    h("p", { class: "big", "data-metric": "open-urgent" }, String(items.length)),
    h("p", { class: "hint" }, items.length ? `Longest waiting: ${span(Date.now() - Date.parse(oldest))}` : "Nobody is waiting."),
    items.length ? h("p", null, h("a", { href: "#/" }, "To the queue")) : null);
}

function perDay(tickets, days) {
  const series = TYPES.map((type) => ({
    name: type.name,
    key: type.value,
    values: days.map((day) => tickets.filter((t) => t.type === type.value && t.created_at.slice(0, 10) === day).length),
  }));
  const total = series.reduce((sum, s) => sum + s.values.reduce((a, b) => a + b, 0), 0);
  return card("Tickets per day by type",
    chart(`Tickets per day by type, last ${DAYS} days: ${total} in all; ${series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`).join(", ")}.`,
      days.map((d) => d.slice(5)), series),
    legend(series),
    numbers(["Day", ...series.map((s) => s.name)], days.map((d, i) => [d, ...series.map((s) => s.values[i])])));
}

const BUCKETS = [["under 5 min", 5], ["5-15 min", 15], ["15-60 min", 60], ["1-4 h", 240], ["over 4 h", Infinity]];

function timeToAcknowledge(tickets) {
  const minutes = tickets.filter((t) => t.acknowledged_at)
    .map((t) => (Date.parse(t.acknowledged_at) - Date.parse(t.created_at)) / 60000)
    .filter((m) => m >= 0).sort((a, b) => a - b);
  if (!minutes.length) return card("Time to acknowledge", h("p", { class: "muted" }, "No ticket acknowledged in this period."));
  const at = (q) => minutes[Math.min(minutes.length - 1, Math.floor(q * minutes.length))];
  const counts = BUCKETS.map(([, limit], i) => minutes.filter((m) => m < limit && (i === 0 || m >= BUCKETS[i - 1][1])).length);
  const series = [{ name: "Tickets", key: "ack", values: counts }];
  return card("Time to acknowledge",
    h("p", { "data-metric": "ack-median" }, `Median ${span(at(0.5) * 60000)}, 90% within ${span(at(0.9) * 60000)} (${minutes.length} tickets).`),
    chart(`Time to acknowledge: ${BUCKETS.map(([name], i) => `${name} ${counts[i]}`).join(", ")}.`, BUCKETS.map(([name]) => name), series),
    numbers(["Time", "Tickets"], BUCKETS.map(([name], i) => [name, counts[i]])));
}

function breaches(found, days) {
  if (!found) {
    return card("Breaches", h("p", { class: "muted" }, "Response and resolution targets are not reported by this API yet."));
  }
  const { items, capped } = found;
  const series = ["response", "resolution"].map((kind) => ({
    name: label(kind),
    key: kind,
    values: days.map((day) => items.filter((t) => breachesOf(t).includes(kind) && t.created_at.slice(0, 10) === day).length),
  }));
  const total = `${items.length}${capped ? "+" : ""}`;
  return card("Breaches",
    h("p", { class: "big", "data-metric": "breached" }, total),
    h("p", { class: "hint" }, items.length
      ? `${total} ${items.length === 1 ? "ticket has" : "tickets have"} missed a target: ${series.map((s) => `${s.name.toLowerCase()} ${items.filter((t) => breachesOf(t).includes(s.key)).length}`).join(", ")}.`
      : "No ticket has missed a target."),
    chart(`Breaches by the day the ticket was created, last ${DAYS} days: ${series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`).join(", ")}.`, days.map((d) => d.slice(5)), series),
    legend(series),
    numbers(["Day", ...series.map((s) => s.name)], days.map((d, i) => [d, ...series.map((s) => s.values[i])])));
}

/** A stacked bar chart in SVG; the numbers are in its label and in a table below it. */
function chart(summary, labels, series) {
  const width = 320;
  const height = 120;
  const bottom = 16;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = Math.max(1, ...totals);
  const slot = width / labels.length;
  const bar = Math.max(4, slot * 0.7);
  const svg = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": summary, class: "chart" });
  labels.forEach((text, i) => {
    let y = height - bottom;
    for (const s of series) {
      const value = s.values[i];
      if (!value) continue;
      const size = (value / max) * (height - bottom - 8);
      y -= size;
      svg.append(h("svg:rect", { x: (i * slot + (slot - bar) / 2).toFixed(1), y: y.toFixed(1), width: bar.toFixed(1), height: size.toFixed(1), class: `s-${s.key}` }));
    }
    if (labels.length <= 7 || i % 2 === labels.length % 2) {
      svg.append(h("svg:text", { x: (i * slot + slot / 2).toFixed(1), y: height - 3, "text-anchor": "middle", class: "axis" }, text));
    }
  });
  svg.append(h("svg:text", { x: 2, y: 10, class: "axis" }, `max ${max}`));
  return h("figure", null, svg);
}

function legend(series) {
  return h("ul", { class: "legend" }, series.map((s) => h("li", null, h("span", { class: `swatch s-${s.key}`, "aria-hidden": "true" }), s.name)));
}

function numbers(head, rows) {
  return h("details", null, h("summary", null, "The numbers"),
    h("table", null, h("thead", null, h("tr", null, head.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", null, rows.map((r) => h("tr", null, r.map((x) => h("td", null, String(x))))))));
}
