// One ticket: its details, the conversation and a reply box; for staff the actions on it.
// It re-reads the ticket every few seconds, so answers and status changes appear by themselves.

import { h, fill, announce, badge, due, label, ticketLink, time, when } from "./dom.js";
import { ApiError, api, missingRoute } from "./api.js";
import { PRIORITIES, TYPES } from "./guide.js";
import { breachesOf, responseDue } from "./list.js";
import { alertBox, busy, field, options, say, setError, showApiErrors } from "./ui.js";

const REFRESH_MS = 4000;
const TRIAGE = "unassigned";

export async function renderTicket(ctx, rawId) {
  const staff = ctx.user.support;
  const path = `/tickets/${encodeURIComponent(rawId)}`;
  const notice = h("p", { class: "notice", role: "status" }, ctx.takeNotice());
  notice.hidden = !notice.textContent;
  const general = alertBox();
  const heading = h("h1", { tabindex: "-1" }, rawId);
  const badges = h("p", { class: "badges" });
  const details = h("dl", { class: "details" });
  const description = h("p", { class: "text" });
  const files = h("ul", { class: "files" });
  const conversation = h("ol", { class: "conversation", "aria-label": "Conversation" });
  const historyList = h("ol", { class: "history" });
  const historySection = h("section", { "aria-labelledby": "history-heading", hidden: true },
    h("h2", { id: "history-heading" }, "History"), historyList);
  let ticket = null;
  let fingerprint = "";
  let gone = false;

  // --- reply -------------------------------------------------------------------------------
  const message = field("Message", h("textarea", { id: "message", rows: "4", maxlength: "20000" }),
    staff ? "Reply is sent to the requester by email; an internal note is seen by support staff only."
      : "Your message is added to the ticket; support answers here and by email.");
  const replyError = alertBox();
  const replyButtons = staff
    ? [h("button", { type: "button", class: "primary", on: { click: (e) => post(e.currentTarget, "public") } }, "Reply"),
      h("button", { type: "button", on: { click: (e) => post(e.currentTarget, "internal") } }, "Add internal note")]
    : [h("button", { type: "submit", class: "primary" }, "Send")];
  const replyForm = h("form", { class: "reply", "aria-label": staff ? "Reply or add a note" : "Reply",
    on: { submit: (e) => { e.preventDefault(); if (!staff) post(replyButtons[0], "public"); } } },
  replyError, message.row, h("div", { class: "actions" }, replyButtons));

  // --- attach --------------------------------------------------------------------------------
  const fileInput = field("Attach a file", h("input", { type: "file", id: "attachment" }));
  const attachButton = h("button", { type: "button", on: { click: () => upload() } }, "Upload");
  const attachForm = h("div", { class: "attach" }, fileInput.row, attachButton);

  // --- staff actions -----------------------------------------------------------------------
  const acknowledge = h("button", { type: "button", class: "primary", on: { click: (e) => act(e.currentTarget, () => api("POST", `${path}/acknowledge`), "Acknowledged") } }, "Acknowledge");
  const resolve = h("button", { type: "button", on: { click: (e) => act(e.currentTarget, () => patch({ status: "resolved" }), "Resolved") } }, "Resolve");
  const reopen = h("button", { type: "button", on: { click: (e) => act(e.currentTarget, () => patch({ status: "open" }), "Reopened") } }, "Reopen");
  const priority = field("Priority", options(h("select", { id: "change-priority" }), PRIORITIES.map((p) => [p, label(p)])));
  const type = field("Type", options(h("select", { id: "change-type" }), TYPES.map((t) => [t.value, t.name])));
  const assignee = field("Assignee", h("input", { id: "change-assignee", type: "email", autocomplete: "off" }),
    "A support engineer's email; empty for nobody.");
  const save = h("button", { type: "submit" }, "Save changes");
  const changeError = alertBox();
  const changeForm = h("form", { class: "change", "aria-label": "Change the ticket",
    on: { submit: (e) => { e.preventDefault(); saveChanges(); } } },
  changeError, h("div", { class: "row" }, priority.row, type.row, assignee.row), h("div", { class: "actions" }, save));
  const tenant = field("Tenant", h("input", { id: "move-tenant", autocomplete: "off", pattern: "[a-z0-9][a-z0-9-]{0,62}" }),
    "The customer organisation this ticket belongs to, e.g. acme.");
  const moveError = alertBox();
  const moveForm = h("form", { class: "move", "aria-labelledby": "triage-heading", hidden: true,
    on: { submit: (e) => { e.preventDefault(); move(); } } },
  h("h2", { id: "triage-heading" }, "Triage"), h("p", null, "This ticket came from an unknown sender. Move it to the customer's tenant: an urgent incident then pages."),
  moveError, tenant.row, h("div", { class: "actions" }, h("button", { type: "submit" }, "Move")));
  const staffPanel = staff ? h("section", { class: "panel", "aria-label": "Actions" },
    h("div", { class: "actions" }, acknowledge, resolve, reopen), changeForm, moveForm) : null;

  if (staffPanel) staffPanel.hidden = true;
  const columns = h("div", { class: "columns", hidden: true },
      h("div", null,
        h("section", { "aria-labelledby": "description-heading" }, h("h2", { id: "description-heading" }, "Description"), description),
        h("section", { "aria-labelledby": "conversation-heading" }, h("h2", { id: "conversation-heading" }, "Conversation"), conversation, replyForm)),
      h("aside", null,
        h("section", { "aria-labelledby": "details-heading" }, h("h2", { id: "details-heading" }, "Details"), details),
        h("section", { "aria-labelledby": "files-heading" }, h("h2", { id: "files-heading" }, "Files"), files, attachForm),
        historySection));
  fill(ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, staff ? "Queue" : "Your tickets")),
    heading, notice, general, badges, staffPanel, columns);

  async function load() {
    try {
      const fresh = await api("GET", path);
      if (ctx.alive()) show(fresh);
    } catch (exc) {
      if (!ctx.alive()) return;
      if (exc instanceof ApiError && exc.status === 404 && !ticket) {
        fill(ctx.main, h("h1", { tabindex: "-1" }, "Ticket not found"),
          h("p", null, `There is no ticket ${rawId} that you can see.`), h("p", null, h("a", { href: "#/" }, "Back")));
        gone = true;
        return;
      }
      say(general, exc.message);
    }
  }

  function show(fresh) {
    const print = `${fresh.version}|${fresh.updated_at}|${(fresh.comments || []).length}|${(fresh.attachments || []).length}`;
    if (print === fingerprint) return;
    const before = ticket;
    ticket = fresh;
    fingerprint = print;
    columns.hidden = false;
    if (staffPanel) staffPanel.hidden = false;
    say(general, "");
    document.title = `${fresh.id}: ${fresh.title} - Support desk`;
    fill(heading, `${fresh.id}: `, fresh.title);
    fill(badges, badge("type", fresh.type), " ", badge("priority", fresh.priority), " ", badge("status", fresh.status),
      breachesOf(fresh).length ? [" ", h("span", { class: "badge breached" }, `Breached: ${breachesOf(fresh).join(", ")}`)] : null);
    renderDetails(fresh);
    description.textContent = fresh.description;
    renderFiles(fresh);
    renderConversation(fresh);
    if (staff) renderStaff(fresh, before);
    if (before && before.status !== fresh.status) announce(`Status changed to ${fresh.status}`);
    else if (before && (before.comments || []).length < (fresh.comments || []).length) announce("New message");
    loadHistory();
  }

  function renderDetails(t) {
    const rows = [
      ["Tenant", t.tenant],
      ["Requester", t.requester && (t.requester.name ? `${t.requester.name} <${t.requester.email}>` : t.requester.email)],
      ["Channel", label(t.channel)],
      ["Environment", t.environment],
      ["Related", t.related && t.related.length ? t.related.flatMap((id, i) => (i ? [", ", ticketLink(id)] : [ticketLink(id)])) : null],
      ["Created", time(t.created_at)],
      ["Updated", time(t.updated_at)],
      ["Acknowledged", t.acknowledged_at ? time(t.acknowledged_at) : null],
      ["Assignee", "assignee" in t ? (t.assignee || "nobody") : null],
      ["First response", t.first_response_at ? time(t.first_response_at) : null],
      ["Response due", responseDue(t) ? h("time", { datetime: t.response_due_at, title: when(t.response_due_at) }, due(t.response_due_at)) : null],
      ["Resolution due", t.resolution_due_at && due(t.resolution_due_at) && !["resolved", "closed"].includes(t.status)
        ? h("time", { datetime: t.resolution_due_at, title: when(t.resolution_due_at) }, due(t.resolution_due_at)) : null],
    ];
    fill(details, rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
  }

  function renderFiles(t) {
    const list = t.attachments || [];
    // A file's number is the API's `n` (1-based, stable); a file without one cannot be fetched.
    fill(files, list.length ? list.map((file) => h("li", null,
      Number.isInteger(file.n)
        ? h("button", { type: "button", class: "link", on: { click: (e) => download(e.currentTarget, file.n) } },
          `Download ${file.name}`)
        : h("span", null, file.name), ` (${size(file.size)})`)) : h("li", { class: "empty" }, "No files."));
  }

  function renderConversation(t) {
    const comments = (t.comments || []).filter((c) => staff || c.visibility !== "internal");
    fill(conversation, comments.length ? comments.map((c) => {
      const internal = c.visibility === "internal";
      return h("li", { class: `comment${c.is_support ? " staff" : ""}${internal ? " internal" : ""}` },
        h("p", { class: "meta" },
          h("strong", null, c.author && (c.author.name || c.author.email)),
          c.is_support ? " (support)" : "", " · ", time(c.created_at), c.channel === "email" ? " · by email" : "",
          internal ? [" · ", h("span", { class: "badge internal" }, "Internal note")] : null),
        h("p", { class: "text" }, c.body),
        (c.attachments || []).length ? h("p", { class: "hint" }, "Attached: ", c.attachments.map((a) => a.name).join(", ")) : null);
    }) : h("li", { class: "empty" }, "No messages yet."));
  }

  function renderStaff(t, before) {
    acknowledge.hidden = t.status !== "open";
    resolve.hidden = !["open", "acknowledged"].includes(t.status);
    reopen.hidden = t.status !== "resolved";
    assignee.row.hidden = !("assignee" in t);
    moveForm.hidden = t.tenant !== TRIAGE;
    if (!before || before.version !== t.version) {
      // Only what nobody is editing right now follows the ticket.
      for (const [entry, value] of [[priority, t.priority], [type, t.type], [assignee, t.assignee || ""]]) {
        if (document.activeElement !== entry.control) entry.control.value = value;
      }
    }
  }

  async function loadHistory() {
    let entries;
    try {
      entries = await api("GET", `${path}/history`);
    } catch {
      historySection.hidden = true; // Not offered by this API (yet), or not for this caller.
      return;
    }
    if (!ctx.alive()) return;
    const items = Array.isArray(entries) ? entries : (entries && entries.items) || [];
    historySection.hidden = !items.length;
    fill(historyList, items.map((e) => h("li", null, time(e.at), " ", e.actor || "", ": ", label(e.field), " ",
      e.from === null || e.from === undefined ? "" : `${e.from} → `, e.to === null || e.to === undefined ? "none" : String(e.to))));
  }

  function patch(changes) {
    return api("PATCH", path, { body: changes, headers: { "If-Match": String(ticket.version) } });
  }

  async function act(button, work, done) {
    await busy(button, async () => {
      try {
        const fresh = await work();
        if (!ctx.alive()) return;
        show(fresh);
        announce(done);
        say(notice, `${done}.`);
      } catch (exc) {
        await failed(exc, general);
      }
    });
  }

  async function failed(exc, box) {
    if (!ctx.alive()) return;
    if (exc instanceof ApiError && exc.status === 412) {
      fingerprint = "";
      await load();
      say(box, "The ticket changed while you were looking at it: it is reloaded, check and try again.");
      return;
    }
    say(box, exc.message);
  }

  async function saveChanges() {
    for (const entry of [priority, type, assignee]) setError(entry, "");
    say(changeError, "");
    const changes = {};
    if (priority.control.value !== ticket.priority) changes.priority = priority.control.value;
    if (type.control.value !== ticket.type) changes.type = type.control.value;
    if (!assignee.row.hidden && assignee.control.value.trim() !== (ticket.assignee || "")) {
      changes.assignee = assignee.control.value.trim() || null;
    }
    if (!Object.keys(changes).length) {
      say(changeError, "Nothing to save: change the priority, the type or the assignee first.");
      return;
    }
    await busy(save, async () => {
      try {
        show(await patch(changes));
        say(notice, "Changes saved.");
      } catch (exc) {
        if (exc instanceof ApiError && exc.status === 422) showApiErrors(exc, { priority, type, assignee }, changeError);
        else await failed(exc, changeError);
      }
    });
  }

  async function move() {
    setError(tenant, "");
    say(moveError, "");
    const value = tenant.control.value.trim().toLowerCase();
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(value)) {
      setError(tenant, "a tenant is lower-case letters, digits and dashes, e.g. acme");
      tenant.control.focus();
      return;
    }
    await busy(moveForm.querySelector("button"), async () => {
      try {
        show(await patch({ tenant: value }));
        say(notice, `Moved to ${value}.`);
        tenant.control.value = "";
      } catch (exc) {
        if (exc instanceof ApiError && exc.status === 422) showApiErrors(exc, { tenant }, moveError);
        else await failed(exc, moveError);
      }
    });
  }

  // One key per message: a resubmit after an error (its answer lost) posts it once; new text, new key.
  let pending = null;

  async function post(button, visibility) {
    setError(message, "");
    say(replyError, "");
    const text = message.control.value;
    if (!text.trim()) {
      setError(message, "write a message first");
      message.control.focus();
      return;
    }
    const body = visibility === "internal" ? { body: text, visibility } : { body: text };
    await busy(button, async () => {
      try {
        if (!pending || pending.text !== text || pending.visibility !== visibility) {
          pending = { text, visibility, key: crypto.randomUUID() };
        }
        await api("POST", `${path}/comments`, { body, headers: { "Idempotency-Key": pending.key } });
        pending = null;
        if (!ctx.alive()) return;
        message.control.value = "";
        announce(visibility === "internal" ? "Internal note added" : "Message sent");
        await load();
      } catch (exc) {
        if (visibility === "internal" && exc instanceof ApiError && exc.status === 422 && "visibility" in exc.byField()) {
          // Never fall back to a public comment: a note meant for staff must not reach the customer.
          say(replyError, "Internal notes are not available on this API yet: nothing was posted.");
        } else if (exc instanceof ApiError && exc.status === 422) {
          showApiErrors(exc, { body: message }, replyError);
        } else {
          say(replyError, exc.message);
        }
      }
    });
  }

  async function download(button, n) {
    await busy(button, async () => {
      try {
        const link = await api("GET", `${path}/attachments/${n}`);
        if (/^https?:\/\//.test(String(link && link.url))) location.assign(link.url);
        else say(general, "The file could not be fetched.");
      } catch (exc) {
        say(general, missingRoute(exc) ? "Downloading files is not available here yet." : exc.message);
      }
    });
  }

  async function upload() {
    setError(fileInput, "");
    const file = fileInput.control.files[0];
    if (!file) {
      setError(fileInput, "choose a file first");
      fileInput.control.focus();
      return;
    }
    const contentType = uploadType(file);
    if (!contentType) {
      setError(fileInput, `${file.name} cannot be attached here: ${KINDS}.`);
      fileInput.control.focus();
      return;
    }
    await busy(attachButton, async () => {
      try {
        const target = await api("POST", `${path}/attachments`, { body: { name: file.name, content_type: contentType } });
        if (Number.isFinite(target.max_size) && file.size > target.max_size) {
          setError(fileInput, `${file.name} is too large: at most ${size(target.max_size)}.`);
          return;
        }
        await store(target, file);
        if (!ctx.alive()) return;
        fileInput.control.value = "";
        say(notice, `${file.name} uploaded.`);
        announce(`${file.name} uploaded`);
        fingerprint = "";
        await load();
      } catch (exc) {
        if (missingRoute(exc)) setError(fileInput, "Attaching files here is not available yet: reply by email with the file attached.");
        else if (exc instanceof ApiError && exc.status === 422) showApiErrors(exc, { name: fileInput, content_type: fileInput }, general);
        else setError(fileInput, exc.message);
      }
    });
  }

  await load();
  const timer = setInterval(() => { if (!gone && document.visibilityState === "visible") load(); }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

// What the API accepts (UploadType in the API's models); anything else is refused before sending.
const UPLOAD_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
  "text/csv", "application/json", "application/zip", "application/gzip", "message/rfc822"]);
const KINDS = "screenshots (PNG, JPEG, GIF, WebP), PDF, text, CSV, JSON, zip or gzip archives and emails (.eml) can";
// Browsers give no type, or another spelling, for some common files: name them as the API does.
const BY_EXTENSION = {
  txt: "text/plain", log: "text/plain", md: "text/plain", csv: "text/csv", json: "application/json",
  zip: "application/zip", gz: "application/gzip", tgz: "application/gzip", eml: "message/rfc822",
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", pdf: "application/pdf",
};

/** The content type to declare for a file, or "" when the API would refuse it. */
function uploadType(file) {
  const declared = String(file.type || "").toLowerCase();
  if (UPLOAD_TYPES.has(declared)) return declared;
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return BY_EXTENSION[ext] || "";
}

/** POST the file to the presigned form: its fields first, then the file (S3 ignores fields after it). */
async function store(target, file) {
  const form = new FormData();
  for (const [key, value] of Object.entries(target.fields || {})) form.append(key, value);
  form.append("file", file);
  let response;
  try {
    response = await fetch(target.url, { method: "POST", body: form, credentials: "omit" });
  } catch {
    throw new Error("the file could not be sent to storage; check your connection and try again");
  }
  if (!response.ok) throw new Error(`the file could not be stored (${response.status}); try again`);
}

function size(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
