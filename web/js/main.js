// Boot: read config.json, finish a hosted-UI sign-in if one is coming back, then route on the hash.
// Views are modules loaded on first use, so the first screen needs only this file and three small ones.

import { h, fill } from "./dom.js";
import { configure, setToken } from "./api.js";
import { completeHostedSignIn, demoSignIn, forget, hostedSignIn, session, signOut } from "./auth.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let config = { api_url: "", auth: "demo" };
let generation = 0;
let cleanup = null;
let notice = "";
let firstRender = true;

/** What a view gets: where to draw, who is signed in, and whether it is still the current view. */
function context(user) {
  const mine = generation;
  return {
    main,
    user,
    config,
    alive: () => mine === generation,
    onLeave: (fn) => { cleanup = fn; },
    go: (hash, message = "") => { notice = message; location.hash = hash; },
    takeNotice: () => { const text = notice; notice = ""; return text; },
  };
}

const ROUTES = [
  [/^\/$/, (user) => (user.support ? ["./queue.js", "renderQueue"] : ["./tickets.js", "renderTickets"])],
  [/^\/new$/, () => ["./form.js", "renderForm"]],
  [/^\/tickets\/([A-Za-z0-9-]{1,32})$/, () => ["./ticket.js", "renderTicket"]],
  [/^\/overview$/, (user) => (user.support ? ["./overview.js", "renderOverview"] : null)],
  [/^\/contacts$/, (user) => (user.support ? ["./contacts.js", "renderContacts"] : null)],
];

function renderNav(user) {
  if (!user) return fill(nav);
  const links = user.support
    ? [["#/", "Queue"], ["#/overview", "Overview"], ["#/contacts", "Contacts"]]
    : [["#/", "Tickets"]];
  const here = location.hash || "#/";
  fill(
    nav,
    h("ul", null, links.map(([href, text]) => h("li", null,
      h("a", { href, "aria-current": here === href ? "page" : null }, text)))),
    user.support ? null : h("button", { type: "button", class: "primary", on: { click: () => { location.hash = "#/new"; } } }, "Support"),
    h("span", { class: "who" }, user.email, user.support ? " (support)" : user.tenant ? ` (${user.tenant})` : ""),
    h("button", { type: "button", class: "link", on: { click: () => { signOut(config); route(); } } }, "Sign out"),
  );
}

function renderSignIn(message = "") {
  const error = h("p", { class: "alert", role: "alert", hidden: !message }, message);
  const start = (role) => async (event) => {
    event.currentTarget.disabled = true;
    try {
      if (config.auth === "cognito") await hostedSignIn(config);
      else await demoSignIn(config, role);
      route();
    } catch (exc) {
      event.currentTarget.disabled = false;
      error.textContent = exc.message;
      error.hidden = false;
    }
  };
  const buttons = config.auth === "cognito"
    ? [h("button", { type: "button", class: "primary", on: { click: start() } }, "Sign in")]
    : [
      h("button", { type: "button", class: "primary", on: { click: start("customer") } }, "Sign in as customer"),
      h("button", { type: "button", on: { click: start("support") } }, "Sign in as support"),
    ];
  fill(
    main,
    h("h1", { tabindex: "-1" }, "Sign in"),
    h("p", null, config.auth === "cognito"
      ? "Sign in with your support desk account."
      : "Local demo: sign in as a customer (alice@acme.example of tenant acme) or as support staff."),
    error,
    h("div", { class: "actions" }, buttons),
  );
}

async function route(message = "") {
  if (cleanup) cleanup();
  cleanup = null;
  generation += 1;
  const user = session();
  setToken(user && user.token);
  renderNav(user);
  if (!user) {
    renderSignIn(message);
    focusHeading();
    return;
  }
  const path = (location.hash || "#/").slice(1);
  const found = ROUTES.map(([pattern, pick]) => [path.match(pattern), pick]).find(([match]) => match);
  const target = found && found[1](user);
  if (!target) {
    fill(main, h("h1", { tabindex: "-1" }, "Not found"), h("p", null, h("a", { href: "#/" }, "Back to the start")));
    focusHeading();
    return;
  }
  const ctx = context(user);
  fill(main, h("p", { class: "muted" }, "Loading…"));
  const module = await import(target[0]);
  if (!ctx.alive()) return;
  await module[target[1]](ctx, ...found[0].slice(1));
  if (ctx.alive()) focusHeading();
}

/** After a route change, focus the new heading so screen readers and keyboards start there. */
function focusHeading() {
  if (firstRender) {
    firstRender = false;
    return;
  }
  const heading = main.querySelector("h1");
  if (heading) heading.focus({ preventScroll: false });
}

async function boot() {
  // A ticket link from a page or an email (/tickets/INC-...) lands here via the site's fallback.
  const deep = location.pathname.match(/^\/tickets\/([A-Za-z0-9-]{1,32})\/?$/);
  if (deep) history.replaceState(null, "", `/${location.search}#/tickets/${deep[1]}`);
  try {
    const response = await fetch("/config.json", { cache: "no-cache" });
    if (response.ok) config = await response.json();
  } catch {
    // No config: the page assumes the API on its own origin with the demo sign-in.
  }
  configure(config.api_url, () => { forget(); route("Your session has ended: sign in again."); });
  let message = "";
  try {
    await completeHostedSignIn(config);
  } catch (exc) {
    message = exc.message;
  }
  window.addEventListener("hashchange", () => route());
  await route(message);
}

boot();
