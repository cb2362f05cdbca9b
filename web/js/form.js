// The Support form: a chooser of the four types, then the fields that type needs.

import { h, fill, label } from "./dom.js";
import { api, query } from "./api.js";
import { ENVIRONMENT_MISSING, TYPES, TASK_MIN_CHARS, TASK_MIN_WORDS, taskDescriptionProblem } from "./guide.js";
import { alertBox, busy, field, options, say, setError, showApiErrors } from "./ui.js";

const PRIORITY_LABELS = { urgent: "Urgent: my site is down" };

export function renderForm(ctx) {
  const general = alertBox();
  const chooser = h("fieldset", { class: "chooser", role: "radiogroup", "aria-describedby": "type-error" },
    h("legend", null, "Type"),
    TYPES.map((type) => h("div", { class: "choice" },
      h("input", { type: "radio", name: "type", id: `type-${type.value}`, value: type.value,
        "aria-describedby": `type-${type.value}-detail`, on: { change: () => adapt(type.value) } }),
      h("label", { for: `type-${type.value}` }, type.name),
      h("div", { class: "hint", id: `type-${type.value}-detail` }, h("p", { class: "summary" }, type.summary), h("p", null, type.detail)))),
    h("p", { class: "error", id: "type-error" }));

  const fields = {
    priority: field("Priority", h("select", { id: "priority", name: "priority" })),
    environment: field("Environment", h("input", { id: "environment", name: "environment", maxlength: "200",
      autocomplete: "url" }), "The site or environment affected, e.g. production or www.example.com."),
    title: field("Title", h("input", { id: "title", name: "title", maxlength: "200", required: true }),
      "One line that says what is wrong or what you need."),
    description: field("Description", h("textarea", { id: "description", name: "description", rows: "6",
      maxlength: "20000", required: true })),
    related: field("Related", h("input", { id: "related", name: "related", autocomplete: "off" }),
      "The incidents this problem causes: ticket ids such as INC-7KQ2XH, separated by spaces or commas."),
  };
  const urgentNote = h("p", { class: "note urgent-note", hidden: true },
    "Urgent pages the on-call engineer straight away. Choose it when your site is down.");
  fields.priority.row.append(urgentNote);
  const recent = h("div", { class: "recent" });
  fields.related.row.append(recent);
  const counter = h("p", { class: "hint", "aria-live": "polite" });
  fields.description.row.insertBefore(counter, fields.description.error);
  const submit = h("button", { type: "submit", class: "primary" }, "Submit");
  const rest = h("div", { class: "rest", hidden: true },
    fields.priority.row, fields.environment.row, fields.title.row, fields.description.row, fields.related.row,
    h("div", { class: "actions" }, submit));
  const form = h("form", { novalidate: true, on: { submit: (event) => { event.preventDefault(); send(); } } },
    general, chooser, rest);
  // One key per filled-in form: a retry after a lost answer returns the same ticket, never a second.
  let idempotencyKey = crypto.randomUUID();
  let type = "";

  fill(ctx.main,
    h("h1", { tabindex: "-1" }, "Get support"),
    h("p", null, "Choose the type that fits; the form then asks for what that type needs."),
    form);

  fields.priority.control.addEventListener("change", () => {
    urgentNote.hidden = fields.priority.control.value !== "urgent";
  });
  fields.description.control.addEventListener("input", () => { if (type === "task") count(); });

  function adapt(chosen) {
    type = chosen;
    rest.hidden = false;
    setError({ control: chooser, error: chooser.querySelector("#type-error") }, "");
    const previous = fields.priority.control.value || "normal";
    const priorities = chosen === "incident" ? ["low", "normal", "high", "urgent"] : ["low", "normal", "high"];
    options(fields.priority.control, priorities.map((p) => [p, label(p)]), PRIORITY_LABELS);
    fields.priority.control.value = priorities.includes(previous) ? previous : "normal";
    urgentNote.hidden = fields.priority.control.value !== "urgent";
    fields.environment.row.hidden = !["incident", "task"].includes(chosen);
    fields.environment.control.required = chosen === "incident";
    fields.environment.hint.textContent = chosen === "incident"
      ? "Required: the site or environment affected, e.g. production or www.example.com."
      : "Optional: the site or environment the work is for.";
    fields.related.row.hidden = chosen !== "problem";
    fields.description.hint.textContent = {
      incident: "What happens, since when, and what you expected instead.",
      problem: "What you know or suspect about the cause.",
      task: `Say what should be done, on which site or environment, and by when (at least ${TASK_MIN_WORDS} words and ${TASK_MIN_CHARS} characters).`,
      question: "Your question.",
    }[chosen];
    counter.hidden = chosen !== "task";
    if (chosen === "task") count();
    if (chosen === "problem") loadIncidents();
    for (const entry of Object.values(fields)) setError(entry, "");
  }

  function count() {
    const text = fields.description.control.value;
    const words = text.split(/\s+/).filter(Boolean).length;
    counter.textContent = `${words} of ${TASK_MIN_WORDS} words, ${[...text.trim()].length} of ${TASK_MIN_CHARS} characters`;
  }

  async function loadIncidents() {
    if (recent.dataset.loaded) return;
    recent.dataset.loaded = "yes";
    let items = [];
    try {
      items = (await api("GET", `/tickets${query({ type: "incident", limit: "20" })}`)).items || [];
    } catch {
      return; // Linking by typing ids still works.
    }
    if (!ctx.alive() || !items.length) return;
    fill(recent, h("fieldset", null, h("legend", null, "Recent incidents to link"),
      items.map((ticket) => {
        const box = h("input", { type: "checkbox", id: `link-${ticket.id}`, value: ticket.id,
          on: { change: () => toggleRelated(ticket.id, box.checked) } });
        return h("div", { class: "check" }, box, h("label", { for: box.id }, `${ticket.id}: `, ticket.title));
      })));
  }

  function relatedIds() {
    return fields.related.control.value.split(/[\s,;]+/).filter(Boolean);
  }

  function toggleRelated(id, on) {
    const ids = relatedIds().filter((x) => x.toUpperCase() !== id);
    if (on) ids.push(id);
    fields.related.control.value = ids.join(" ");
  }

  /** The API's own rules, checked before anything is sent; the API checks them again. */
  function check() {
    const problems = {};
    const value = (name) => fields[name].control.value;
    if (!type) problems.type = "choose the type of ticket";
    if (!value("title").trim()) problems.title = "give the ticket a title";
    if (!value("description").trim()) problems.description = "describe what you need";
    else if (type === "task") problems.description = taskDescriptionProblem(value("description")) || undefined;
    if (type === "incident" && !value("environment").trim()) problems.environment = ENVIRONMENT_MISSING;
    return Object.fromEntries(Object.entries(problems).filter(([, v]) => v));
  }

  async function send() {
    say(general, "");
    for (const entry of Object.values(fields)) setError(entry, "");
    const typeError = chooser.querySelector("#type-error");
    typeError.textContent = "";
    const problems = check();
    if (Object.keys(problems).length) {
      if (problems.type) typeError.textContent = problems.type;
      for (const [name, reason] of Object.entries(problems)) if (fields[name]) setError(fields[name], reason);
      const first = problems.type ? chooser.querySelector("input") : fields[Object.keys(problems)[0]].control;
      first.focus();
      return;
    }
    const body = {
      type,
      title: fields.title.control.value.trim(),
      description: fields.description.control.value,
      priority: fields.priority.control.value,
    };
    if (!fields.environment.row.hidden && fields.environment.control.value.trim()) {
      body.environment = fields.environment.control.value.trim();
    }
    if (type === "problem" && relatedIds().length) body.related = relatedIds();
    await busy(submit, async () => {
      try {
        const ticket = await api("POST", "/tickets", { body, headers: { "Idempotency-Key": idempotencyKey } });
        idempotencyKey = crypto.randomUUID();
        ctx.go(`#/tickets/${ticket.id}`, `Ticket ${ticket.id} is open. We will answer here and by email.`);
      } catch (error) {
        if (!ctx.alive()) return;
        showApiErrors(error, { ...fields, type: { control: chooser, error: typeError } }, general);
      }
    });
  }
}
