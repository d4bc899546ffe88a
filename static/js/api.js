// The REST client: JSON in and out, the session cookie, and X-XSRFToken on writes.

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

// Called with the ApiError of any 401 (the session is gone: expired, logged out elsewhere,
// or the server restarted with a new signing key); main.js sends the person to log in.
let unauthorized = null;
export function onUnauthorized(fn) { unauthorized = fn; }

/** Call the API; resolve to the parsed JSON, reject with ApiError (message from the server). */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    const xsrf = cookie("_xsrf");
    if (xsrf) headers["X-XSRFToken"] = xsrf;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) {
    try { data = await response.json(); } catch { data = null; }
  }
  if (!response.ok) {
    let text = data && typeof data.error === "string" ? data.error : `${response.status} ${response.statusText}`;
    const retry = response.headers.get("Retry-After");
    // The server's message usually says when already ("… retry in 23 s"): said once.
    if (response.status === 429 && retry && !/\b(retry|try again) in \d/i.test(text)) text += ` (try again in ${retry} s)`;
    const error = new ApiError(response.status, text, retry ? Number(retry) : null);
    if (response.status === 401 && unauthorized) unauthorized(error);
    throw error;
  }
  return data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
