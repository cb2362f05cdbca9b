// A customer's tickets: the tenant's list with type and status filters, refreshed while open.

import { h, fill } from "./dom.js";
import { api, query } from "./api.js";
import { STATUSES, TYPES } from "./guide.js";
import { columnsFor, filter, table } from "./list.js";
import { alertBox, busy, say } from "./ui.js";

const REFRESH_MS = 15000;

export async function renderTickets(ctx) {
  const state = { type: "", status: "" };
  const error = alertBox();
  const body = h("div", { class: "list", "aria-live": "polite", "aria-busy": "true" });
  const more = h("button", { type: "button", hidden: true }, "Show more");
  let next = null;
  let extended = false;
  let shown = [];

  fill(ctx.main,
    h("h1", { tabindex: "-1" }, "Your tickets"),
    h("p", null, "Press Support to open a ticket. ", ctx.user.tenant ? `Tenant ${ctx.user.tenant}.` : ""),
    h("form", { class: "filters", role: "search", "aria-label": "Filter tickets", on: { submit: (e) => e.preventDefault() } },
      filter("Type", "filter-type", TYPES.map((t) => t.value), (v) => { state.type = v; load(); }, "All types"),
      filter("Status", "filter-status", STATUSES, (v) => { state.status = v; load(); }, "All statuses")),
    error, body, more);

  more.addEventListener("click", () => busy(more, () => load(next)));

  async function load(token = null) {
    let page;
    try {
      page = await api("GET", `/tickets${query({ ...state, limit: "25", next_token: token })}`);
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
    body.setAttribute("aria-busy", "false");
    if (!shown.length) {
      fill(body, h("p", { class: "empty" }, state.type || state.status
        ? "No tickets match these filters." : "No tickets yet. Press Support to open one."));
      return;
    }
    const columns = columnsFor(["id", "title", "type", "priority", "status", "due", "updated"], shown);
    fill(body, table("Your tickets, newest first", columns, shown));
  }

  await load();
  // New answers and status changes show up without reloading; a page the user extended stays as it is.
  const timer = setInterval(() => {
    if (document.visibilityState === "visible" && !extended && !body.contains(document.activeElement)) load();
  }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}
