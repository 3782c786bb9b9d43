// DOM helpers. Text from the admin API only ever goes in as text nodes,
// never as HTML: an entity name cannot inject markup.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// table renders rows under headers; a header starting with "#" is a
// numeric column (right-aligned), shown without the "#".
export function table(caption, headers, rows, id) {
  const num = headers.map((h) => h.startsWith("#"));
  const names = headers.map((h) => h.replace(/^#/, ""));
  const body = rows.length
    ? rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { class: num[i] ? "num" : null, "data-label": names[i] }, c))))
    : [el("tr", {}, el("td", { colspan: headers.length, class: "note" }, "None."))];
  return el("div", { class: "table-wrap" },
    el("table", { id },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, names.map((h, i) => el("th", { scope: "col", class: num[i] ? "num" : null }, h)))),
      el("tbody", {}, body)));
}

// fill replaces root's children with the nodes of a nested list, leaving
// out the empty ones (null, false) that conditional parts give.
export function fill(root, ...children) {
  root.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export function cards(items) {
  return el("dl", { class: "cards" }, items.map(([label, value, id]) =>
    el("div", { class: "card" }, el("dt", {}, label), el("dd", { id }, value))));
}

export const list = (v) => (Array.isArray(v) && v.length ? v.join(", ") : "—");

export function ms(v) {
  if (!Number.isFinite(v)) return "—";
  return v < 10 ? v.toFixed(2) + " ms" : Math.round(v) + " ms";
}

export const pct = (v) => (Number.isFinite(v) ? (v * 100).toFixed(2) + " %" : "—");

export function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
}

// mask shows that a secret is set without showing any of it.
export const mask = (v) => (v === undefined || v === null || v === "" ? "—" : "••••••••");

export function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, "Error: " + (err && err.message ? err.message : String(err)));
}
