// The read-only pages. Each render function fills root and may return a
// refresh function the router calls every few seconds while it is shown.

import { get, list, HTTPError } from "./api.js";
import { el, fill, table, cards, list as joined, ms, pct, duration, mask, errorBox } from "./ui.js";
import { parse, routeStats, totals } from "./metrics.js";
import { reloadsTable } from "./reloads.js";

// The overview shows this many of the server's last reloads, and asks for
// no more: the whole history may be megabytes, refreshed every few seconds.
const overviewReloads = 5;

const byID = (items) => new Map(items.map((e) => [e.id, e]));
const nameOf = (e) => (e ? e.name || e.username || e.id : "—");

// Rates need two samples; the last one of each series is kept here.
const last = { requests: null, routes: new Map() };

function rate(prev, now, value) {
  if (!prev || now <= prev.at) return NaN;
  return Math.max(0, value - prev.value) / ((now - prev.at) / 1000);
}

async function metricsStats() {
  try {
    return routeStats(parse(await get("/metrics")));
  } catch (e) {
    if (e instanceof HTTPError && e.status === 404) return null;
    throw e;
  }
}

export async function overview(root) {
  const refresh = async () => {
    const [status, info, stats, hist] = await Promise.all([get("/status"), get("/"), metricsStats(), get("/reloads?size=" + overviewReloads)]);
    const now = Date.now();
    const total = status.server.total_requests;
    const rps = rate(last.requests, now, total);
    last.requests = { at: now, value: total };
    const t = stats ? totals(stats) : null;
    fill(root,
      el("h1", {}, "Overview"),
      cards([
        ["Node", status.node_id, "ov-node"],
        ["Host name", info.hostname || "—", "ov-hostname"],
        ["Version", status.version, "ov-version"],
        ["Configuration hash", status.configuration_hash || "none", "ov-hash"],
        ["Uptime", duration(status.uptime_seconds), "ov-uptime"],
        ["Requests (total)", String(total), "ov-requests"],
        ["Requests/s", Number.isFinite(rps) ? rps.toFixed(1) : "…", "ov-rps"],
        ["Error rate (5xx)", t ? pct(t.errorRate) : "no /metrics", "ov-error-rate"],
        ["Active connections", String(status.server.connections_active), "ov-active"],
      ]),
      el("h2", {}, "Configuration"),
      el("p", { id: "ov-summary" }, status.configuration || "No configuration loaded."),
      el("h2", {}, "Reloads"),
      el("p", { class: "note" }, "The newest of ", el("a", { href: "#/reloads", id: "ov-reloads-all" }, "the reload history"),
        " (" + hist.total + (hist.total === 1 ? " load" : " loads") + "), with their errors and warnings."),
      reloadsTable("The last reloads", hist.data, "ov-reloads"),
    );
  };
  await refresh();
  return refresh;
}

export async function services(root) {
  const [svcs, routes] = await Promise.all([list("/services"), list("/routes")]);
  const count = new Map();
  for (const r of routes) if (r.service) count.set(r.service.id, (count.get(r.service.id) || 0) + 1);
  fill(root,
    el("h1", {}, "Services"),
    table(svcs.length + " services", ["Name", "Protocol", "Host", "#Port", "Path", "#Routes", "Tags"],
      svcs.map((s) => [nameOf(s), s.protocol, s.host, s.port, s.path || "—", count.get(s.id) || 0, joined(s.tags)]),
      "services-table"),
  );
}

export async function routes(root) {
  const [rts, svcs] = await Promise.all([list("/routes"), list("/services")]);
  const svc = byID(svcs);
  const report = el("div", { id: "explain-result", "aria-live": "polite" });
  const form = el("form", { class: "grid", id: "explain-form" },
    el("div", {}, el("label", { for: "ex-method" }, "Method"),
      el("select", { id: "ex-method", name: "method" },
        ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map((m) => el("option", { value: m }, m)))),
    el("div", {}, el("label", { for: "ex-scheme" }, "Scheme"),
      el("select", { id: "ex-scheme", name: "scheme" }, el("option", { value: "http" }, "http"), el("option", { value: "https" }, "https"))),
    el("div", {}, el("label", { for: "ex-host" }, "Host"), el("input", { id: "ex-host", name: "host", value: "example.com", required: true })),
    el("div", {}, el("label", { for: "ex-path" }, "Path and query"), el("input", { id: "ex-path", name: "path", value: "/", required: true })),
    el("div", {}, el("label", { for: "ex-headers" }, "Headers (Name: value, one a line)"),
      el("textarea", { id: "ex-headers", name: "headers", rows: 3, class: "short" })),
    el("div", {}, el("button", { type: "submit" }, "Explain")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    let path = String(f.get("path"));
    if (!path.startsWith("/")) path = "/" + path;
    const q = new URLSearchParams({ method: f.get("method"), url: f.get("scheme") + "://" + f.get("host") + path });
    for (const line of String(f.get("headers")).split("\n")) if (line.trim()) q.append("header", line.trim());
    try {
      renderExplain(report, await get("/explain?" + q.toString()));
    } catch (e) {
      report.replaceChildren(errorBox(e));
    }
  });
  fill(root,
    el("h1", {}, "Routes"),
    table(rts.length + " routes", ["Name", "Service", "Methods", "Hosts", "Paths", "Protocols"],
      rts.map((r) => [nameOf(r), r.service ? nameOf(svc.get(r.service.id)) : "—", joined(r.methods), joined(r.hosts), joined(r.paths), joined(r.protocols)]),
      "routes-table"),
    el("h2", {}, "Explain a request"),
    el("p", { class: "note" }, "Which route a request would match, and the plugins that would run, against the configuration in force."),
    form, report,
  );
}

function renderExplain(root, rep) {
  const parts = [];
  if (rep.matched) {
    parts.push(el("p", { id: "explain-route" }, "Matched route: ", el("strong", {}, rep.matched.route.name || rep.matched.route.id),
      rep.service ? [" of service ", el("strong", {}, rep.service.name || rep.service.id)] : ""));
  } else {
    parts.push(el("p", { id: "explain-route", class: "error" }, rep.no_match ? rep.no_match.message + ": " + rep.no_match.explanation : "No route matched."));
  }
  if (rep.status) parts.push(el("p", {}, "The gateway answers " + rep.status + " itself."));
  if (rep.upstream) parts.push(el("p", {}, "Sent upstream as ", el("code", {}, rep.upstream.method + " " + rep.upstream.url)));
  if (rep.plugins && rep.plugins.length) {
    parts.push(table("Plugins, in execution order", ["Plugin", "Scope", "Phases"],
      rep.plugins.map((p) => [p.name, p.scope || "global", joined(p.phases)]), "explain-plugins"));
  }
  for (const n of rep.notes || []) parts.push(el("p", { class: "note" }, n));
  fill(root, ...parts);
}

export async function plugins(root) {
  const [plgs, svcs, rts, cons] = await Promise.all([list("/plugins"), list("/services"), list("/routes"), list("/consumers")]);
  const svc = byID(svcs);
  const rt = byID(rts);
  const con = byID(cons);
  const scopes = new Map();
  for (const p of plgs) {
    const parts = [];
    if (p.service) parts.push("service " + nameOf(svc.get(p.service.id)));
    if (p.route) parts.push("route " + nameOf(rt.get(p.route.id)));
    if (p.consumer) parts.push("consumer " + nameOf(con.get(p.consumer.id)));
    const scope = parts.length ? parts.join(", ") : "global";
    if (!scopes.has(scope)) scopes.set(scope, []);
    scopes.get(scope).push(p);
  }
  const keys = [...scopes.keys()].sort((a, b) => (a === "global" ? -1 : b === "global" ? 1 : a.localeCompare(b)));
  fill(root,
    el("h1", {}, "Plugins"),
    el("p", { class: "note" }, plgs.length + " plugin instances. Their configurations are not shown here: they can hold secrets."),
    keys.map((k) => [el("h2", {}, k[0].toUpperCase() + k.slice(1)),
      table("Plugins of scope " + k, ["Name", "Enabled", "Protocols", "Tags"],
        scopes.get(k).map((p) => [p.name, p.enabled === false ? "no" : "yes", joined(p.protocols), joined(p.tags)]))]),
  );
}

// What each credential kind shows: its fields, secret ones masked. Fields
// not listed are never shown.
const credentialKinds = [
  ["key-auths", "key-auth", [["key", true]]],
  ["basic-auths", "basic-auth", [["username"], ["password", true]]],
  ["jwts", "jwt", [["key"], ["algorithm"], ["secret", true]]],
  ["hmac-auths", "hmac-auth", [["username"], ["secret", true]]],
  ["oauth2", "oauth2", [["name"], ["client_id"], ["client_secret", true]]],
  ["acls", "acl", [["group"]]],
];

async function optionalList(path) {
  try {
    return await list(path);
  } catch (e) {
    if (e instanceof HTTPError && e.status === 404) return [];
    throw e;
  }
}

export async function consumers(root) {
  const cons = await list("/consumers");
  const creds = await Promise.all(credentialKinds.map(([path]) => optionalList("/" + path)));
  const con = byID(cons);
  const counts = new Map();
  creds.forEach((items) => items.forEach((c) => counts.set(c.consumer.id, (counts.get(c.consumer.id) || 0) + 1)));
  fill(root,
    el("h1", {}, "Consumers"),
    table(cons.length + " consumers", ["Username", "Custom id", "#Credentials", "Tags"],
      cons.map((c) => [c.username || "—", c.custom_id || "—", counts.get(c.id) || 0, joined(c.tags)]), "consumers-table"),
    el("h2", {}, "Credentials"),
    el("p", { class: "note" }, "Keys, passwords and secrets are masked; the dashboard never shows them."),
    credentialKinds.map(([, label, fields], i) => creds[i].length ? table(label, ["Consumer", ...fields.map(([f]) => f)],
      creds[i].map((c) => [nameOf(con.get(c.consumer.id)), ...fields.map(([f, secret]) => (secret ? mask(c[f]) : c[f] ?? "—"))]),
      "credentials-" + label) : null),
  );
}

export async function upstreams(root) {
  const ups = await list("/upstreams");
  const health = await Promise.all(ups.map((u) => get("/upstreams/" + encodeURIComponent(u.id) + "/health").catch((e) => ({ error: e }))));
  fill(root,
    el("h1", {}, "Upstreams"),
    ups.length ? null : el("p", { class: "note" }, "No upstreams: services send to their own host."),
    ups.map((u, i) => [
      el("h2", {}, nameOf(u)),
      el("p", { class: "note" }, "Algorithm " + u.algorithm + ", slots " + u.slots),
      health[i].error ? errorBox(health[i].error) : table("Targets of " + nameOf(u), ["Target", "#Weight", "Health", "Reason", "Addresses"],
        health[i].data.map((t) => [t.target, t.weight,
          el("span", { class: t.health === "HEALTHY" ? "ok" : t.health === "HEALTHCHECKS_OFF" ? "" : "error" }, t.health),
          t.reason || "—", (t.data.addresses || []).map((a) => a.ip + ":" + a.port).join(", ") || "—"]),
        "targets-" + (u.name || u.id)),
    ]),
  );
}

export async function traffic(root) {
  const refresh = async () => {
    const stats = await metricsStats();
    if (!stats) {
      fill(root, el("h1", {}, "Traffic"), el("p", {}, "This admin API serves no /metrics."));
      return;
    }
    const now = Date.now();
    const rows = stats.map((s) => {
      const r = rate(last.routes.get(s.route), now, s.requests);
      last.routes.set(s.route, { at: now, value: s.requests });
      return [s.route || "(no route matched)", s.requests, Number.isFinite(r) ? r.toFixed(1) : "…", s.errors, pct(s.errorRate), ms(s.p50), ms(s.p99)];
    });
    fill(root,
      el("h1", {}, "Traffic"),
      el("p", { class: "note" }, "Per route, from /metrics: counts and latency percentiles since the node started; requests/s over the last refresh."),
      table("Requests by route", ["Route", "#Requests", "#Requests/s", "#5xx", "#Error rate", "#p50", "#p99"], rows, "traffic-table"),
    );
  };
  await refresh();
  return refresh;
}

// nodes lists the nodes of the cluster from GET /clustering/status: the
// nodes that share a --config-store redis://, or this node alone.
export async function nodes(root) {
  const cs = await get("/clustering/status");
  const ids = Object.keys(cs).sort((a, b) => (cs[b].this_node ? 1 : 0) - (cs[a].this_node ? 1 : 0) || a.localeCompare(b));
  const self = ids.map((id) => cs[id]).find((n) => n.this_node) || {};
  const seen = (n) => n.last_seen ? new Date(n.last_seen * 1000).toLocaleTimeString() : "—";
  const rows = ids.map((id) => {
    const n = cs[id];
    return [id + (n.this_node ? " (this node)" : ""), n.hostname || "—", n.version || "—",
      n.config_version ? String(n.config_version) : "—", n.config_hash || "none", n.health || "—", seen(n),
      n.failed_version ? "version " + n.failed_version + ": " + (n.failed_error || "") : "—"];
  });
  const about = self.stored
    ? "Stored configuration: version " + self.stored.version + ", by " + (self.stored.changed_by || "?") + (self.stored.changed_at ? " at " + new Date(self.stored.changed_at).toLocaleString() : "") + "."
    : self.store_error ? "The configuration store cannot be read: " + self.store_error
    : "No shared configuration store (--config-store redis://): this node alone.";
  fill(root,
    el("h1", {}, "Nodes"),
    el("p", { class: "panel", id: "nodes-about" }, about),
    table("Nodes", ["Node", "Host name", "Version", "#Config version", "Configuration hash", "Health", "Last seen", "Failed"], rows, "nodes-table"),
  );
}
