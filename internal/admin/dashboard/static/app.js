// The dashboard's entry point: session and login, and a router that
// shows one page per URL fragment (#/overview, #/routes, ...).

import { call, get, session, setUnauthorizedHandler } from "./api.js";
import { el, errorBox } from "./ui.js";
import * as pages from "./pages.js";
import { configPage } from "./config.js";
import { reloadsPage } from "./reloads.js";

const routes = {
  overview: pages.overview,
  services: pages.services,
  routes: pages.routes,
  plugins: pages.plugins,
  consumers: pages.consumers,
  upstreams: pages.upstreams,
  traffic: pages.traffic,
  reloads: reloadsPage,
  nodes: pages.nodes,
  config: configPage,
};

const refreshEvery = 5000;
let timer = null;
let shown = "";

const $ = (id) => document.getElementById(id);

function showLogin(message) {
  clearInterval(timer);
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("page").replaceChildren();
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

async function loadSession() {
  const s = await get("/dashboard/api/session");
  session.loginRequired = s.login_required;
  if (!s.logged_in) return false;
  session.csrf = s.csrf;
  session.role = s.role;
  return true;
}

function showApp() {
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = !session.loginRequired;
  $("who").textContent = session.loginRequired ? "Role: " + session.role : "";
  route();
}

async function route() {
  const name = (location.hash.replace(/^#\/?/, "") || "overview").split("?")[0];
  const render = routes[name];
  if (!render) { location.hash = "#/overview"; return; }
  clearInterval(timer);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#/" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = $("page");
  const moved = shown !== name;
  shown = name;
  page.dataset.page = name;
  page.dataset.ready = "false";
  if (moved) document.title = name[0].toUpperCase() + name.slice(1) + " · Turnpike dashboard";
  try {
    const refresh = await render(page);
    if (refresh) {
      timer = setInterval(() => refresh().catch((e) => page.append(errorBox(e))), refreshEvery);
    }
  } catch (e) {
    page.replaceChildren(errorBox(e));
  }
  page.dataset.ready = "true";
  if (moved) $("main").focus({ preventScroll: true });
}

async function login(ev) {
  ev.preventDefault();
  try {
    const r = await call("POST", "/dashboard/api/login", new URLSearchParams({ token: $("token").value }), "application/x-www-form-urlencoded");
    $("token").value = "";
    session.csrf = r.csrf;
    session.role = r.role;
    showApp();
  } catch (e) {
    $("token").value = "";
    showLogin(e.status === 401 ? "Wrong token." : e.message);
  }
}

async function logout() {
  try {
    await call("POST", "/dashboard/api/logout");
  } finally {
    session.csrf = "";
    showLogin("Logged out.");
  }
}

async function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", () => { if (!$("nav").hidden) route(); });
  setUnauthorizedHandler(() => { if (session.loginRequired) showLogin("Your session has ended; log in again."); });
  try {
    if (await loadSession()) showApp();
    else showLogin();
  } catch (e) {
    $("page").replaceChildren(errorBox(e));
  }
}

start();
