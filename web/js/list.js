// A table of tickets that turns into cards on a phone, and the select filters over it.

import { h, age, badge, due, label, ticketLink, time, when } from "./dom.js";
import { options } from "./ui.js";

/** A labelled <select> of "All" and `values`, calling `onChange` with the new value. */
export function filter(labelText, id, values, onChange, allText) {
  const select = options(h("select", { id }), [["", allText], ...values.map((v) => [v, label(v)])]);
  select.addEventListener("change", () => onChange(select.value));
  return h("div", { class: "field inline" }, h("label", { for: id }, labelText), select);
}

const COLUMNS = {
  id: ["Ticket", (t) => ticketLink(t.id)],
  title: ["Title", (t) => h("span", { class: "title" }, t.title)],
  tenant: ["Tenant", (t) => t.tenant],
  type: ["Type", (t) => label(t.type)],
  priority: ["Priority", (t) => badge("priority", t.priority)],
  status: ["Status", (t) => badge("status", t.status)],
  age: ["Age", (t) => age(t.created_at)],
  due: ["Due", dueCell],
  assignee: ["Assignee", (t) => t.assignee || ""],
  updated: ["Updated", (t) => time(t.updated_at)],
};

const CLOSED = ["resolved", "closed"];

/** The targets a ticket missed (`breached`, e.g. ["response"]); none when the API reports none. */
export function breachesOf(ticket) {
  return Array.isArray(ticket.breached) ? ticket.breached.filter((kind) => typeof kind === "string") : [];
}

/** When the first response is due, while the ticket still waits for one; "" otherwise. */
export function responseDue(ticket) {
  const at = ticket.response_due_at;
  if (!at || ticket.first_response_at || CLOSED.includes(ticket.status) || Number.isNaN(Date.parse(at))) return "";
  return at;
}

function dueCell(t) {
  const at = responseDue(t);
  const missed = breachesOf(t);
  const overdue = at && Date.parse(at) < Date.now();
  return [
    at ? h("time", { datetime: at, title: `Response due ${when(at)}`, class: overdue ? "overdue" : null }, due(at))
      : t.first_response_at ? h("span", { title: `First response ${when(t.first_response_at)}` }, "answered") : "",
    missed.length ? [" ", h("span", { class: "badge breached" }, `Breached: ${missed.join(", ")}`)] : null,
  ];
}

/** Earliest response due first; tickets with none due keep their order, after them. */
export function byResponseDue(items) {
  const keyed = items.map((t, i) => [responseDue(t) ? Date.parse(responseDue(t)) : Infinity, i, t]);
  keyed.sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
  return keyed.map(([, , t]) => t);
}

/** Columns whose data the API sends: `due` and `assignee` appear once the API has them. */
export function columnsFor(wanted, items) {
  return wanted.filter((name) => {
    if (name === "due") return items.some((t) => "response_due_at" in t || "breached" in t);
    if (name === "assignee") return items.some((t) => "assignee" in t);
    return true;
  });
}

export function table(caption, columns, items, rowClass = () => "") {
  return h("table", { class: "tickets" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, COLUMNS[c][0])))),
    h("tbody", null, items.map((t) => h("tr", { class: rowClass(t) || null, "data-id": t.id },
      columns.map((c) => h("td", { "data-label": COLUMNS[c][0] }, COLUMNS[c][1](t)))))));
}
