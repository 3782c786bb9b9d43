// The server's reload history (GET /reloads): every load the gateway
// attempted, newest first, with the errors that refused one by field path.

import { get } from "./api.js";
import { el, fill, table, ms } from "./ui.js";

// A message is "path: text" when the load's error named a field (a path
// has no spaces); the path is shown as code.
function message(m, cls) {
  const i = m.indexOf(": ");
  if (i > 0 && !/\s/.test(m.slice(0, i))) return el("li", { class: cls }, el("code", {}, m.slice(0, i)), m.slice(i));
  return el("li", { class: cls }, m);
}

const when = (r) => new Date(r.at).toLocaleString() +
  (r.unchanged_count > 1 ? " to " + new Date(r.last_at).toLocaleString() : "");

function result(r) {
  if (!r.ok) return el("span", { class: "error" }, "refused");
  if (r.unchanged) return el("span", { class: "ok" }, r.unchanged_count > 1 ? "unchanged ×" + r.unchanged_count : "unchanged");
  return el("span", { class: "ok" }, "applied");
}

// reloadsTable renders history entries; the store's version and its
// writer are a column only when some entry came from a config store.
export function reloadsTable(caption, entries, id) {
  const stored = entries.some((r) => r.store_version);
  const headers = ["At", "Trigger", "Result", "#Duration"];
  if (stored) headers.push("Store version");
  headers.push("Errors and warnings");
  return table(caption, headers, entries.map((r) => {
    const row = [when(r), r.trigger, result(r), ms(r.duration_ms)];
    if (stored) row.push(r.store_version ? r.store_version + (r.store_author ? " by " + r.store_author : "") : "—");
    const notes = [...(r.errors || []).map((m) => message(m, "error")), ...(r.warnings || []).map((m) => message(m, "warn"))];
    row.push(notes.length ? el("ul", { class: "errors" }, notes) : "—");
    return row;
  }), id);
}

export async function reloadsPage(root) {
  const refresh = async () => {
    const h = (await get("/reloads")).data || [];
    const refused = h.filter((r) => !r.ok).length;
    fill(root,
      el("h1", {}, "Reloads"),
      el("p", { class: "note", id: "reloads-about" },
        "The last " + h.length + " configuration loads of this node, newest first" +
        (refused ? ", " + refused + " refused (the configuration in force stayed)" : "") +
        ". Loads that found the configuration unchanged in a row are one line; DNS recompiles are not listed."),
      reloadsTable("Configuration loads", h, "reloads-table"),
    );
  };
  await refresh();
  return refresh;
}
