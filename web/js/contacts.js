// Support staff's contacts: which addresses and domains belong to which tenant (for email intake).

import { h, fill, time } from "./dom.js";
import { api } from "./api.js";
import { alertBox, busy, field, say, setError, showApiErrors } from "./ui.js";

export async function renderContacts(ctx) {
  const error = alertBox();
  const list = h("div", { class: "list", "aria-live": "polite" });
  const address = field("Address", h("input", { id: "contact-address", autocomplete: "off", required: true }),
    "An email address (bob@acme.example) or a whole domain (acme.example).");
  const tenant = field("Tenant", h("input", { id: "contact-tenant", autocomplete: "off", required: true }),
    "The customer organisation, e.g. acme.");
  const name = field("Name", h("input", { id: "contact-name", autocomplete: "off" }), "Optional: who this is.");
  const add = h("button", { type: "submit", class: "primary" }, "Add contact");
  const formError = alertBox();
  const fields = { address, tenant, name };
  const form = h("form", { class: "contact-form", "aria-label": "Add a contact", on: { submit: (e) => { e.preventDefault(); create(); } } },
    formError, h("div", { class: "row" }, address.row, tenant.row, name.row), h("div", { class: "actions" }, add));

  fill(ctx.main, h("h1", { tabindex: "-1" }, "Contacts"),
    h("p", null, "Mail from a contact (that passes SPF or DKIM) files into the contact's tenant and may page; mail from anyone else goes to triage."),
    error, form, h("h2", null, "Known contacts"), list);

  async function load() {
    let got;
    try {
      got = await api("GET", "/contacts");
    } catch (exc) {
      if (ctx.alive()) say(error, exc.message);
      return;
    }
    if (!ctx.alive()) return;
    const items = got.items || [];
    fill(list, items.length ? h("table", { class: "tickets" },
      h("caption", { class: "visually-hidden" }, "Contacts"),
      h("thead", null, h("tr", null, ["Address", "Tenant", "Name", "Added", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", null, items.map((c) => h("tr", null,
        h("td", { "data-label": "Address" }, c.address),
        h("td", { "data-label": "Tenant" }, c.tenant),
        h("td", { "data-label": "Name" }, c.name || ""),
        h("td", { "data-label": "Added" }, time(c.created_at), " by ", c.created_by),
        h("td", null, h("button", { type: "button", "aria-label": `Remove ${c.address}`, on: { click: (e) => remove(e.currentTarget, c.address) } }, "Remove"))))))
      : h("p", { class: "empty" }, "No contacts yet."));
  }

  async function create() {
    for (const entry of Object.values(fields)) setError(entry, "");
    say(formError, "");
    const body = { address: address.control.value.trim(), tenant: tenant.control.value.trim().toLowerCase() };
    if (name.control.value.trim()) body.name = name.control.value.trim();
    await busy(add, async () => {
      try {
        await api("POST", "/contacts", { body });
        for (const entry of Object.values(fields)) entry.control.value = "";
        say(error, "");
        await load();
      } catch (exc) {
        showApiErrors(exc, fields, formError);
      }
    });
  }

  async function remove(button, which) {
    await busy(button, async () => {
      try {
        await api("DELETE", `/contacts/${encodeURIComponent(which)}`);
        await load();
        address.control.focus();
      } catch (exc) {
        say(error, exc.message);
      }
    });
  }

  await load();
}
