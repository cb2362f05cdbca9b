// The HTTP API: JSON in and out, the ID token as a bearer token, errors as ApiError.

let base = "";
let token = null;
let onUnauthorized = () => {};

export function configure(apiUrl, unauthorized) {
  base = String(apiUrl || "").replace(/\/+$/, "");
  onUnauthorized = unauthorized;
}

export function setToken(value) {
  token = value;
}

/** A 4xx/5xx answer: `errors` are the API's [{field, reason}]. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the request failed (${status})`);
    this.status = status;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
  }

  /** The first reason per top-level field (`related.0` counts as `related`). */
  byField() {
    const out = {};
    for (const { field, reason } of this.errors) {
      const key = field ? String(field).split(".")[0] : "";
      if (!(key in out)) out[key] = reason || this.message;
    }
    return out;
  }
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(base + path, init);
  } catch {
    throw new ApiError(0, { message: "the support desk cannot be reached; check your connection and try again" });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 200) };
  }
  if (response.status === 401 && token) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Whether an error means the route itself does not exist (a feature this API does not have yet). */
export function missingRoute(error) {
  return error instanceof ApiError && (error.status === 404 || error.status === 405)
    && /^(not found|no such route)$/i.test(error.message);
}
