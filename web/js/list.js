// A table of tickets that turns into cards on a phone, and the select filters over it.

import { h, age, badge, due, label, ticketLink, time } from "./dom.js";
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
  due: ["Response due", (t) => h("span", { class: isOverdue(t) ? "overdue" : "" }, due(t.response_due_at)
    || (t.first_response_at ? "answered" : ""))],
  assignee: ["Assignee", (t) => t.assignee || ""],
  updated: ["Updated", (t) => time(t.updated_at)],
};

function isOverdue(ticket) {
  return (ticket.breached && ticket.breached.length)
    || (!ticket.first_response_at && ticket.response_due_at && Date.parse(ticket.response_due_at) < Date.now());
}

/** Columns whose data the API sends: `due` and `assignee` appear once the API has them. */
export function columnsFor(wanted, items) {
  return wanted.filter((name) => {
    if (name === "due") return items.some((t) => "response_due_at" in t);
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
