// The login page: Feishu when the server has it; else the admin API token the server
// printed (POST /auth/token, with XSRF; throttled), which works again after a logout,
// and the one-time link the server printed at start-up.
//
// Where the person was (a page, a shared `#/jobs/N` link) is kept while they log in: in the
// address (the admin-token form reloads it as it is; Feishu's `next` carries it) and in
// localStorage for the one-time link (a new address: "/auth/local?token=…" sends to "/"),
// taken once by the page that boots with a session, and only when fresh.

import { api } from "../api.js";
import { h, replace, message } from "../dom.js";

const PLACE = "toolbox.return";
const PLACE_MS = 30 * 60 * 1000;

/** Remember where the person was (the hash), before the login page replaces it. */
export function rememberPlace(hash = location.hash) {
  try {
    if (hash && hash !== "#" && hash !== "#/") localStorage.setItem(PLACE, JSON.stringify({ hash, at: Date.now() }));
    else localStorage.removeItem(PLACE);
  } catch { /* storage off: the address still carries it for the token form and Feishu */ }
}

/** The remembered place (once: it is forgotten as it is read), or null when none or stale. */
export function takePlace() {
  try {
    const kept = JSON.parse(localStorage.getItem(PLACE) || "null");
    localStorage.removeItem(PLACE);
    if (kept && typeof kept.hash === "string" && kept.hash.startsWith("#/") && Date.now() - kept.at < PLACE_MS) return kept.hash;
  } catch { /* nothing kept */ }
  return null;
}

function tokenForm() {
  const input = h("input", { type: "password", name: "token", id: "admin-token", required: true, autocomplete: "current-password",
    spellcheck: "false", "aria-describedby": "admin-token-help" });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary wide" }, "Log in");
  const form = h("form", { class: "token-login", "aria-label": "Log in with the admin token" },
    h("label", { for: "admin-token" }, "Admin API token", input),
    h("p", { class: "muted help-text", id: "admin-token-help" },
      "The token the server printed at start-up (or TOOLBOX_ADMIN_TOKEN). It is sent once, never kept in the page."),
    submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(status);
    try {
      await api("/auth/token", { method: "POST", body: { token: input.value } });
      input.value = "";
      location.reload();  // the hash stays: back where the person was
    } catch (error) {
      replace(status, message("error", error.message));
      submit.disabled = false;
      input.select();
    }
  });
  return form;
}

export function render(note) {
  const body = h("div", { class: "login-body" }, h("p", { class: "muted" }, "Checking how to log in…"));
  const card = h("div", { class: "card login-card" },
    h("h1", {}, h("span", { class: "logo", "aria-hidden": "true" }, "▣"), " toolBox"),
    h("p", { class: "muted" }, "Run network diagnostics from many agents and compare the answers side by side."),
    note ? message("info", note) : null,
    body);
  api("/auth/info").then((info) => {
    if (info.feishu) {
      const href = `/auth/feishu/login?next=${encodeURIComponent(`/${location.hash}`)}`;
      replace(body, h("a", { class: "button primary wide", href }, "Log in with Feishu"));
    } else {
      replace(body,
        tokenForm(),
        h("details", { class: "login-more" }, h("summary", {}, "Or use the one-time link"),
          h("p", {}, "The server also printed a link that works once per start; it looks like:"),
          h("pre", { class: "hint" }, h("code", {}, "toolbox: log in as admin (one-time link):\nhttp://HOST:PORT/auth/local?token=…"))));
    }
  }).catch((error) => replace(body, message("error", `Cannot reach the server: ${error.message}`)));
  return card;
}
