// Support staff's queue across tenants: unacknowledged urgent incidents on top, then every ticket
// by when its first response is due (earliest first, none due last), with the filters the API
// offers (targets: `sla=breached`, `sla=due_soon`), and a jump to a ticket by its id.

import { h, fill } from "./dom.js";
import { api, query } from "./api.js";
import { PRIORITIES, STATUSES, TYPES } from "./guide.js";
import { breachesOf, byResponseDue, columnsFor, filter, table } from "./list.js";
import { alertBox, busy, field, options, say } from "./ui.js";

const REFRESH_MS = 10000;
const URGENT = { type: "incident", priority: "urgent", status: "open", limit: "100" };
const TARGETS = [["breached", "Breached"], ["due_soon", "Due soon"]];

export async function renderQueue(ctx) {
  const state = { type: "", status: "", priority: "", tenant: "", sla: "" };
  const error = alertBox();
  const urgentBody = h("div", { class: "list", "aria-live": "polite" });
  const urgentHeading = h("h2", { id: "urgent-heading" }, "Urgent incidents not acknowledged");
  const allBody = h("div", { class: "list" });
  const more = h("button", { type: "button", hidden: true }, "Show more");
  const targets = h("div", { class: "field inline" }, h("label", { for: "filter-sla" }, "Targets"),
    options(h("select", { id: "filter-sla", on: { change: (e) => { state.sla = e.target.value; loadAll(); } } }),
      [["", "All tickets"], ...TARGETS]));
  const tenant = field("Tenant", h("input", { id: "filter-tenant", autocomplete: "off", placeholder: "e.g. acme or unassigned", size: "14" }));
  tenant.row.classList.add("inline");
  tenant.hint.remove();
  const find = field("Ticket id", h("input", { id: "find-id", autocomplete: "off", placeholder: "INC-7KQ2XH", size: "12" }));
  find.row.classList.add("inline");
  find.hint.remove();
  let next = null;
  let extended = false;
  let urgentIds = new Set();
  let shown = [];

  fill(ctx.main,
    h("h1", { tabindex: "-1" }, "Queue"),
    error,
    h("section", { "aria-labelledby": "urgent-heading", class: "urgent-queue" }, urgentHeading, urgentBody),
    h("section", { "aria-labelledby": "all-heading" },
      h("h2", { id: "all-heading" }, "All tickets"),
      h("form", { class: "filters", role: "search", "aria-label": "Find a ticket",
        on: { submit: (e) => { e.preventDefault(); open(); } } },
        find.row, h("button", { type: "submit" }, "Open")),
      h("form", { class: "filters", "aria-label": "Filter tickets",
        on: { submit: (e) => { e.preventDefault(); state.tenant = tenant.control.value.trim().toLowerCase(); loadAll(); } } },
        filter("Type", "filter-type", TYPES.map((t) => t.value), (v) => { state.type = v; loadAll(); }, "All types"),
        filter("Status", "filter-status", STATUSES, (v) => { state.status = v; loadAll(); }, "All statuses"),
        filter("Priority", "filter-priority", PRIORITIES, (v) => { state.priority = v; loadAll(); }, "All priorities"),
        targets, tenant.row, h("button", { type: "submit" }, "Apply")),
      allBody, more));

  more.addEventListener("click", () => busy(more, () => loadAll(next)));

  function open() {
    const id = find.control.value.trim();
    if (id) ctx.go(`#/tickets/${encodeURIComponent(id.toUpperCase())}`);
  }

  async function loadUrgent() {
    let page;
    try {
      page = await api("GET", `/tickets${query(URGENT)}`);
    } catch (exc) {
      if (ctx.alive()) say(error, exc.message);
      return;
    }
    if (!ctx.alive()) return;
    // Oldest first (whoever has waited longest), then the earliest response due before that.
    const items = byResponseDue(page.items.slice().sort((a, b) => a.created_at.localeCompare(b.created_at)));
    urgentIds = new Set(items.map((t) => t.id));
    urgentHeading.textContent = `Urgent incidents not acknowledged (${items.length})`;
    fill(urgentBody, items.length
      ? table("Urgent incidents not acknowledged, response due first",
        columnsFor(["id", "title", "tenant", "age", "due", "assignee"], items), items, () => "urgent")
      : h("p", { class: "empty" }, "None: nobody's site is down and waiting."));
  }

  async function loadAll(token = null) {
    let page;
    try {
      page = await api("GET", `/tickets${query({ ...state, limit: "50", next_token: token })}`);
    } catch (exc) {
      if (ctx.alive()) say(error, exc.message);
      return;
    }
    if (!ctx.alive()) return;
    say(error, "");
    extended = Boolean(token);
    shown = token ? shown.concat(page.items) : page.items;
    next = page.next_token;
    more.hidden = !next;
    if (state.sla && shown.length && !shown.some((t) => "breached" in t)) {
      // An API without targets ignores `sla` and lists everything: never show that as "Breached".
      fill(allBody, h("p", { class: "empty" }, "Response targets are not reported by this API yet."));
      return;
    }
    const rows = byResponseDue(shown.filter((t) => !urgentIds.has(t.id)));
    const label = state.sla ? TARGETS.find(([v]) => v === state.sla)[1].toLowerCase() : "";
    fill(allBody, rows.length
      ? table(`Tickets${label ? `, ${label}` : ""}, response due first`,
        columnsFor(["id", "title", "tenant", "type", "priority", "status", "age", "due", "assignee"], rows), rows,
        (t) => (breachesOf(t).length ? "breached" : ""))
      : h("p", { class: "empty" }, state.sla === "breached" ? "No ticket has missed a target."
        : state.sla === "due_soon" ? "No response is due soon." : "No tickets match these filters."));
  }

  await loadUrgent();
  await loadAll();
  const timer = setInterval(async () => {
    if (document.visibilityState !== "visible" || ctx.main.querySelector("table")?.contains(document.activeElement)) return;
    await loadUrgent();
    if (!extended) await loadAll();
  }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}
