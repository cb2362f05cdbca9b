// Sign-in: the local demo (POST /local/sign-in) or the user pool's hosted UI with the
// authorization code grant and PKCE. The ID token stays in sessionStorage, never in a URL.

const TOKEN = "support-desk.id_token";
const PKCE = "support-desk.pkce";

function decode(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** Who is signed in, from the ID token's claims (the API checks the token; this only shapes the page). */
export function session() {
  const token = sessionStorage.getItem(TOKEN);
  const claims = token && decode(token);
  if (!claims || (claims.exp && claims.exp * 1000 <= Date.now())) {
    sessionStorage.removeItem(TOKEN);
    return null;
  }
  const groups = Array.isArray(claims["cognito:groups"]) ? claims["cognito:groups"] : [];
  return {
    token,
    email: String(claims.email || ""),
    tenant: String(claims["custom:tenant"] || ""),
    support: groups.includes("support"),
  };
}

/** Drop the token (the API refused it: expired or revoked). */
export function forget() {
  sessionStorage.removeItem(TOKEN);
}

export function signOut(config) {
  sessionStorage.removeItem(TOKEN);
  if (config.auth === "cognito") {
    const url = new URL("/logout", config.cognito_domain);
    url.searchParams.set("client_id", config.client_id);
    url.searchParams.set("logout_uri", config.redirect_uri);
    location.assign(url.toString());
  }
}

export async function demoSignIn(config, role) {
  const response = await fetch(`${String(config.api_url || "").replace(/\/+$/, "")}/local/sign-in`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ role }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.id_token) throw new Error(body.message || "the demo sign-in failed");
  sessionStorage.setItem(TOKEN, body.id_token);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Off to the hosted UI, with a fresh PKCE verifier and state kept for the way back. */
export async function hostedSignIn(config) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const url = new URL("/oauth2/authorize", config.cognito_domain);
  for (const [key, value] of Object.entries({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: "openid email profile",
    state,
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
  })) url.searchParams.set(key, value);
  location.assign(url.toString());
}

/** Back from the hosted UI: trade the one-time code for tokens, then drop it from the address bar. */
export async function completeHostedSignIn(config) {
  const params = new URLSearchParams(location.search);
  if (config.auth !== "cognito" || !(params.has("code") || params.has("error"))) return;
  history.replaceState(null, "", location.pathname + location.hash);
  if (params.has("error")) throw new Error(`the sign-in was refused: ${params.get("error_description") || params.get("error")}`);
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || "{}");
  sessionStorage.removeItem(PKCE);
  if (!saved.state || saved.state !== params.get("state")) throw new Error("the sign-in did not start here; try again");
  const response = await fetch(new URL("/oauth2/token", config.cognito_domain), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code: params.get("code"),
      redirect_uri: config.redirect_uri,
      code_verifier: saved.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.id_token) throw new Error("the sign-in could not be completed; try again");
  sessionStorage.setItem(TOKEN, body.id_token);
}
