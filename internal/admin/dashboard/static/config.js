// The config editor: paste or upload a declarative configuration, check
// it (POST /config?check=true), see it against the one in force as a line
// diff, apply it (POST /config).

import { call, get, session } from "./api.js";
import { el, fill, errorBox } from "./ui.js";
import { lineDiff, hunks } from "./diff.js";

// Kept across page switches, so a half-edited document survives a look
// at another page.
let draft = null;

export async function configPage(root) {
  const running = (await get("/config")).config;
  if (draft === null) draft = running;
  const admin = session.role === "admin";
  const area = el("textarea", { id: "cfg-text", spellcheck: "false", autocomplete: "off" });
  area.value = draft;
  area.addEventListener("input", () => { draft = area.value; });
  const file = el("input", { id: "cfg-file", type: "file", accept: ".yml,.yaml,.json,application/json,application/yaml,text/yaml" });
  const out = el("div", { id: "cfg-result", "aria-live": "polite" });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    if (f.size > 16 << 20) { fill(out, errorBox(new Error("the file is larger than 16 MiB"))); return; }
    area.value = draft = await f.text();
    fill(out, el("p", {}, "Loaded " + f.name + "."));
  });
  const body = () => area.value;
  const ctype = () => (area.value.trim().startsWith("{") ? "application/json" : "application/yaml");

  const check = async () => {
    try {
      await call("POST", "/config?check=true&flatten_errors=1", body(), ctype());
      fill(out, el("p", { class: "ok", id: "cfg-valid" }, "The configuration is valid."));
    } catch (e) {
      fill(out, ...renderErrors(e));
    }
  };
  const diff = () => {
    const d = lineDiff(running, area.value);
    if (d === null) { fill(out, el("p", { class: "warn" }, "The documents differ too much to diff here.")); return; }
    const changed = d.filter((x) => x.op !== " ").length;
    fill(out, 
      el("p", { id: "cfg-diff-summary" }, changed ? changed + " changed lines against the configuration in force." : "No change against the configuration in force."),
      changed ? el("pre", { class: "diff", id: "cfg-diff", tabindex: "0", "aria-label": "Line diff against the configuration in force" },
        hunks(d).map((x) => el("span", { class: x.op === "+" ? "add" : x.op === "-" ? "del" : null }, x.op === "@" ? "…" : x.op + " " + x.text))) : null);
  };
  const apply = async () => {
    try {
      await call("POST", "/config?flatten_errors=1", body(), ctype());
      draft = null;
      await configPage(root);
      fill(root.querySelector("#cfg-result"), el("p", { class: "ok", id: "cfg-applied" }, "Applied: the gateway now serves this configuration. ",
        el("a", { href: "#/reloads", id: "cfg-reloads" }, "See it in the reload history"), "."));
    } catch (e) {
      fill(out, ...renderErrors(e));
    }
  };
  const revert = () => { area.value = draft = running; fill(out); };

  fill(root,
    el("h1", {}, "Configuration"),
    el("p", { class: "note" }, "Edit, paste or upload a declarative configuration (Kong's format, YAML or JSON). Check validates it without applying; Apply replaces the configuration in force on this node."),
    el("label", { for: "cfg-text" }, "Configuration"),
    area,
    el("div", { class: "actions" },
      el("div", {}, el("label", { for: "cfg-file" }, "Upload a file"), file)),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "cfg-check", onclick: check }, "Check"),
      el("button", { type: "button", id: "cfg-diff-btn", class: "secondary", onclick: diff }, "Diff against running"),
      admin ? el("button", { type: "button", id: "cfg-apply", onclick: apply }, "Apply") : null,
      el("button", { type: "button", id: "cfg-revert", class: "secondary", onclick: revert }, "Revert to running")),
    admin ? null : el("p", { class: "note" }, "Your session is read-only: it can check and diff a configuration, not apply it."),
    out,
  );
}

// renderErrors lists a refused document's errors by field path. Kong's
// flattened_errors (asked for with flatten_errors=1) group them by
// entity; an error of the document as a whole has no entity.
function renderErrors(e) {
  const b = e.body;
  if (!b || !Array.isArray(b.flattened_errors)) return [errorBox(e)];
  const inEntities = b.flattened_errors.flatMap((g) => Array.isArray(g.errors) ? g.errors : [g]);
  // What is in no entity stays in fields, and the message prints it as one
  // item however many errors it holds: only the entities' are counted.
  const rest = b.fields && Object.keys(b.fields).length > 0;
  const errs = rest ? [...inEntities, { message: b.message }] : inEntities;
  const n = inEntities.length;
  const count = n === 0 ? "" : " (" + n + (n === 1 ? " error" : " errors") + (rest ? " in entities, and the document's below" : "") + ")";
  return [
    el("p", { class: "error", role: "alert", id: "cfg-invalid" }, "The configuration is invalid" + count + ":"),
    el("ul", { class: "errors", id: "cfg-errors" }, errs.map((f) =>
      el("li", {}, el("code", {}, f.path || "(document)"), f.line ? " (line " + f.line + ")" : "", ": " + f.message))),
  ];
}
