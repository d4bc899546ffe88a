// The login page: Feishu when the server has it, else the one-time local link.

import { api } from "../api.js";
import { h, replace, message } from "../dom.js";

export function render(note) {
  const body = h("div", { class: "login-body" }, h("p", { class: "muted" }, "Checking how to log in…"));
  const card = h("div", { class: "card login-card" },
    h("h1", {}, h("span", { class: "logo", "aria-hidden": "true" }, "▣"), " toolBox"),
    h("p", { class: "muted" }, "Run network diagnostics from many agents and compare the answers side by side."),
    note ? message("info", note) : null,
    body);
  api("/auth/info").then((info) => {
    if (info.feishu) {
      const href = "/auth/feishu/login?next=%2F";
      replace(body, h("a", { class: "button primary wide", href }, "Log in with Feishu"));
    } else {
      replace(body,
        h("p", {}, "Feishu login is not configured on this server."),
        h("p", {}, "Open the one-time login link the server printed when it started; it looks like:"),
        h("pre", { class: "hint" }, "toolbox: log in as admin (one-time link): http://HOST:PORT/auth/local?token=…"),
        h("p", { class: "muted" }, "Each link works once. Restart the server (or ask an admin) for a new one."));
    }
  }).catch((error) => replace(body, message("error", `Cannot reach the server: ${error.message}`)));
  return card;
}
