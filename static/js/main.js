// The console: who is logged in, the header, hash routing, and the live feed's status.

import { api, ApiError, onUnauthorized } from "./api.js";
import { h, replace, message, safeImageUrl, refreshTimes } from "./dom.js";
import { LiveFeed } from "./live.js";
import * as login from "./pages/login.js";
import * as agents from "./pages/agents.js";
import * as run from "./pages/run.js";
import * as job from "./pages/job.js";
import * as history from "./pages/history.js";
import * as admin from "./pages/admin.js";
import * as schedules from "./pages/schedules.js";
import * as schedule from "./pages/schedule.js";
import * as scheduleAlerts from "./pages/schedule_alerts.js";
import * as alerts from "./pages/alerts.js";
import * as channels from "./pages/channels.js";

const ROUTES = {
  agents: { page: agents, title: "Agents" },
  run: { page: run, title: "Run" },
  jobs: { page: job, title: "Job", nav: "from" },  // the page the job was opened from
  history: { page: history, title: "History" },
  admin: { page: admin, title: "Admin" },
  // #/schedules lists them, #/schedules/ID is one schedule's graph, #/schedules/ID/alerts its alert rules
  schedules: { page: { render: (page, c, args) => (!args.length ? schedules : args[1] === "alerts" ? scheduleAlerts : schedule)
    .render(page, c, args) }, title: "Schedules" },
  alerts: { page: alerts, title: "Alerts" },
  channels: { page: channels, title: "Channels" },
};

const root = document.getElementById("app");
const ctx = {
  me: null,
  live: null,
  // The server's roles, least first (GET /api/me): a role can what those before it can.
  can: (role) => Boolean(ctx.me) && ctx.me.roles.includes(role)
    && ctx.me.roles.indexOf(ctx.me.role) >= ctx.me.roles.indexOf(role),
  navigate: (hash) => { location.hash = hash; },
  tools: null,
  async getTools() {
    if (!ctx.tools) ctx.tools = (await api("/api/tools")).items;
    return ctx.tools;
  },
};
let cleanup = null;
let view = null;
let banner = null;
let nav = null;

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "agents", args: parts.slice(1) };
}

function header() {
  const me = ctx.me;
  const links = [["agents", "Agents"], ["run", "Run"], ["history", "History"], ["schedules", "Schedules"],
    ["alerts", "Alerts"], ...(ctx.can("admin") ? [["channels", "Channels"]] : []),
    ["admin", ctx.can("admin") ? "Admin" : "Tokens"]];
  nav = h("nav", { class: "nav", "aria-label": "Pages" },
    ...links.map(([name, text]) => h("a", { href: `#/${name}`, dataset: { route: name } }, text)));
  const avatarUrl = me.avatar_url ? safeImageUrl(me.avatar_url) : null;
  const avatar = avatarUrl
    ? h("img", { class: "avatar", src: avatarUrl, alt: "", referrerpolicy: "no-referrer" })
    : h("span", { class: "avatar initials", "aria-hidden": "true" }, (me.name || "?").trim().slice(0, 1).toUpperCase());
  const livePill = h("span", { class: "live-pill connecting", title: "Live updates" }, "connecting");
  ctx.live.on("status", (status) => {
    livePill.className = `live-pill ${status}`;
    livePill.textContent = { live: "live", lost: "offline", connecting: "connecting" }[status];
  });
  const logout = h("button", { type: "button", class: "small ghost", onclick: doLogout }, "Log out");
  return h("header", { class: "top" },
    h("a", { class: "brand", href: "#/agents" }, h("span", { class: "logo", "aria-hidden": "true" }, "▣"), "toolBox"),
    nav,
    h("div", { class: "who" }, livePill, avatar,
      h("span", { class: "who-text" }, h("span", { class: "who-name" }, me.name || me.id || "?"),
        h("span", { class: `role role-${me.role}` }, me.role)),
      logout));
}

async function doLogout() {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch (error) {
    showBanner("error", `Log out failed: ${error.message}`);
    return;
  }
  ctx.live.stop();
  ctx.me = null;
  location.hash = "";
  login.rememberPlace("");
  showLogin();
}

function showBanner(kind, text, ms = 0) {
  if (!banner) return;
  replace(banner, text ? message(kind, text) : null);
  if (ms) setTimeout(() => { if (banner.textContent === text) replace(banner); }, ms);
}

function watchLive() {
  let lostSince = null;
  let checkTimer = null;
  ctx.live.on("status", (status) => {
    if (status === "lost") {
      if (lostSince === null) lostSince = Date.now();
      showBanner("warn", "Live updates lost: reconnecting… (what happens meanwhile is caught up on reconnect)");
      clearTimeout(checkTimer);
    } else if (status === "live" && lostSince !== null) {
      lostSince = null;
      clearTimeout(checkTimer);
      showBanner("ok", "Reconnected: live updates are back.", 3000);
    }
  });
  // Every socket that closed asks whether the session is still there (a refused handshake
  // cannot say 401 itself); the feed's backoff (at most 15 s) paces the asks.
  ctx.live.on("closed", () => { clearTimeout(checkTimer); checkTimer = setTimeout(checkSession, 300); });
  ctx.live.on("reset", () => showBanner("info", "Missed too many updates while away: reloaded.", 4000));
}

async function checkSession() {
  if (ctx.live.status !== "lost") return;
  try {
    await api("/api/me");
  } catch { /* a 401 went to sessionLost; anything else: the server is away, the feed retries */ }
}

/** Any 401 (an API call or the feed's check): to the login page, back here after it. */
function sessionLost() {
  if (!ctx.me) return;
  ctx.live.stop();
  ctx.me = null;
  if (cleanup) { try { cleanup(); } catch (error) { console.error(error); } cleanup = null; }
  login.rememberPlace();
  showLogin("Your session ended (it expired, or the server restarted). Log in again to go back where you were.");
}

async function route() {
  if (!ctx.me) return;
  if (cleanup) { try { cleanup(); } catch (error) { console.error(error); } cleanup = null; }
  const { name, args } = parseHash();
  const entry = ROUTES[name] || ROUTES.agents;
  // A job opened from History highlights History; one started on Run (or Run again), Run.
  // (a link opened by hand highlights nothing: the job view is no menu page)
  const from = name === "jobs" ? ctx.jobFrom : null;
  if (name !== "jobs") ctx.jobFrom = null;
  const active = entry.nav === "from" ? from : name;
  for (const link of nav.querySelectorAll("a")) {
    const here = link.dataset.route === active;
    link.classList.toggle("active", here);
    if (here) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  document.title = `${entry.title} · toolBox`;
  const page = h("section", { class: "page" });
  replace(view, page);
  try {
    cleanup = (await entry.page.render(page, ctx, args)) || null;
  } catch (error) {
    replace(page, message("error", `This page could not load: ${error.message}`));
  }
}

function showLogin(note) {
  document.title = "Log in · toolBox";
  replace(root, h("main", { class: "login-view" }, login.render(note)));
}

async function boot() {
  try {
    ctx.me = await api("/api/me");
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      login.rememberPlace();  // a shared #/jobs/N link opens after the login
      showLogin();
    } else {
      replace(root, h("main", { class: "login-view" }, message("error", `toolBox cannot start: ${error.message}`)));
    }
    return;
  }
  const place = login.takePlace();
  if (place && ["", "#", "#/"].includes(location.hash)) window.history.replaceState(null, "", place);
  onUnauthorized(sessionLost);
  ctx.live = new LiveFeed();
  banner = h("div", { class: "banner", "aria-live": "polite" });
  view = h("main", { class: "view" });
  replace(root, header(), banner, view);
  watchLive();
  ctx.live.start();
  window.addEventListener("hashchange", route);
  setInterval(() => refreshTimes(view), 5000);  // "14 s ago" never goes stale
  await route();
}

boot();
