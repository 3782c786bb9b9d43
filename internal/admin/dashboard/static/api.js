// Calls to the admin API on this origin. The session cookie goes with
// every call; state-changing ones carry the session's CSRF token too.

export const session = { csrf: "", role: "admin", loginRequired: false };

export class HTTPError extends Error {
  constructor(status, body) {
    super((body && body.message) || "HTTP " + status);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// call sends a request and returns the decoded JSON body (or text when the
// answer is not JSON). Every call is bounded in time. Admin API paths
// (/status, /services?offset=...) go through the dashboard's prefix, the
// only path its session cookie is sent on.
export async function call(method, path, body, contentType) {
  if (!path.startsWith("/dashboard/")) path = "/dashboard/admin" + path;
  const headers = {};
  if (method !== "GET" && method !== "HEAD" && session.csrf) headers["X-Turnpike-CSRF"] = session.csrf;
  if (contentType) headers["Content-Type"] = contentType;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 15000);
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, credentials: "same-origin", signal: ctl.signal, cache: "no-store" });
  } finally {
    clearTimeout(timer);
  }
  const type = resp.headers.get("Content-Type") || "";
  let data = null;
  if (resp.status !== 204 && resp.status !== 304) {
    data = type.includes("json") ? await resp.json() : await resp.text();
  }
  if (resp.status === 401) onUnauthorized();
  if (!resp.ok && resp.status !== 304) throw new HTTPError(resp.status, data);
  return data;
}

export const get = (path) => call("GET", path);

// list reads every page of an entity list (Kong's {data, next} paging),
// at most 20 pages of 1000.
export async function list(path) {
  const out = [];
  let next = path + (path.includes("?") ? "&" : "?") + "size=1000";
  for (let i = 0; next && i < 20; i++) {
    const page = await get(next);
    out.push(...(page.data || []));
    next = page.next;
  }
  return out;
}
