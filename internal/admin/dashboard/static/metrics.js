// Reads the Prometheus text exposition of GET /metrics and summarises it
// per route: requests, 5xx errors, and p50/p99 latency from the duration
// histogram, interpolated within a bucket as Prometheus's
// histogram_quantile does.

// parse returns the samples: {name, labels, value}.
export function parse(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.push({ name: m[1], labels: parseLabels(m[3] || ""), value: Number(m[4]) });
  }
  return out;
}

function parseLabels(s) {
  const labels = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(s)) !== null) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  }
  return labels;
}

// quantile estimates the q-quantile from cumulative buckets [{le, count}]
// sorted by le, the last one +Inf.
export function quantile(q, buckets) {
  if (buckets.length === 0) return NaN;
  const total = buckets[buckets.length - 1].count;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / Math.max(b.count - prevCount, 1e-9));
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// routeStats summarises the samples by route name ("" is requests no
// route matched).
export function routeStats(samples) {
  const routes = new Map();
  const of = (name) => {
    if (!routes.has(name)) routes.set(name, { route: name, requests: 0, errors: 0, buckets: new Map() });
    return routes.get(name);
  };
  for (const s of samples) {
    if (s.name === "api_gateway_requests_total") {
      const r = of(s.labels.route || "");
      r.requests += s.value;
      if (Number(s.labels.status) >= 500) r.errors += s.value;
    } else if (s.name === "api_gateway_request_duration_ms_bucket") {
      const r = of(s.labels.route || "");
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      r.buckets.set(le, (r.buckets.get(le) || 0) + s.value);
    }
  }
  return [...routes.values()].map((r) => {
    const buckets = [...r.buckets.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
    return {
      route: r.route,
      requests: r.requests,
      errors: r.errors,
      errorRate: r.requests ? r.errors / r.requests : 0,
      p50: quantile(0.5, buckets),
      p99: quantile(0.99, buckets),
    };
  }).sort((a, b) => a.route.localeCompare(b.route));
}

// totals adds every route's requests and errors.
export function totals(stats) {
  let requests = 0;
  let errors = 0;
  for (const s of stats) { requests += s.requests; errors += s.errors; }
  return { requests, errors, errorRate: requests ? errors / requests : 0 };
}
