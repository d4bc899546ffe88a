// Admin: users and roles, the audit log (admins; its filters match a part of the actor
// or action, on Enter), and everyone's own API tokens.

import { api, query } from "../api.js";
import { h, replace, message, empty, ago, dateTime, badge, copyButton, safeImageUrl } from "../dom.js";

const ROLES = ["viewer", "operator", "admin"];
const PAGE = 50;

export async function render(page, ctx) {
  const isAdmin = ctx.can("admin");
  page.append(h("div", { class: "page-head" }, h("h1", {}, isAdmin ? "Admin" : "API tokens")));
  const audit = isAdmin ? auditSection() : null;
  const sections = [tokensSection(() => audit && audit.load())];
  if (isAdmin) sections.unshift(usersSection(ctx));
  if (audit) sections.push(audit);
  for (const section of sections) page.append(section.node);
  await Promise.all(sections.map((s) => s.load()));
  return null;
}

function usersSection(ctx) {
  const notice = h("div", { class: "notice" });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading users…"));
  const node = h("section", { class: "card", "aria-label": "Users" }, h("h2", {}, "Users and roles"), notice, body);

  async function patch(user, change, done) {
    try {
      await api(`/api/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: change });
      replace(notice, message("ok", `${user.name}: ${change.role ? `now ${change.role}` : change.disabled ? "disabled" : "enabled"}.`));
      await load();
    } catch (error) {
      replace(notice, message("error", error.message));
      if (done) done();
    }
  }

  async function load() {
    let users;
    try {
      users = (await api("/api/users")).items;
    } catch (error) {
      replace(body, message("error", `Cannot load the users: ${error.message}`));
      return;
    }
    if (!users.length) {
      replace(body, empty("No users yet.", h("p", {}, "People appear here after their first login.")));
      return;
    }
    replace(body, h("div", { class: "table-scroll" }, h("table", { class: "table stack users" },
      h("thead", {}, h("tr", {}, ...["", "Name", "Email", "Role", "Last login", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...users.map((user) => {
        const self = ctx.me && user.id === ctx.me.id;
        const role = h("select", { "aria-label": `Role of ${user.name}`, disabled: self },
          ...ROLES.map((r) => h("option", { value: r, selected: r === user.role }, r)));
        role.addEventListener("change", () => patch(user, { role: role.value }, () => { role.value = user.role; }));
        const url = user.avatar_url ? safeImageUrl(user.avatar_url) : null;
        return h("tr", { dataset: { user: user.id } },
          h("td", {}, url ? h("img", { class: "avatar", src: url, alt: "", referrerpolicy: "no-referrer" }) : h("span", { class: "avatar initials" }, (user.name || "?").slice(0, 1).toUpperCase())),
          h("td", { "data-label": "Name" }, h("strong", {}, user.name || "—"), user.disabled ? " " : null, user.disabled ? badge("disabled", "bad") : null, self ? " " : null, self ? badge("you") : null),
          h("td", { "data-label": "Email" }, user.email || h("span", { class: "muted" }, "—")),
          h("td", { "data-label": "Role" }, role),
          h("td", { "data-label": "Last login" }, ago(user.last_login_at)),
          h("td", { class: "actions" }, self ? null : h("button", {
            type: "button", class: `small${user.disabled ? "" : " danger"}`,
            onclick: () => patch(user, { disabled: !user.disabled }),
          }, user.disabled ? "Enable" : "Disable")));
      })))));
  }
  return { node, load };
}

function tokensSection(changed) {
  const notice = h("div", { class: "notice" });
  const body = h("div", {});
  const name = h("input", { name: "name", placeholder: "e.g. monitoring script", required: true, autocomplete: "off" });
  const days = h("input", { name: "expires_in_days", type: "number", min: "1", max: "3650", placeholder: "never", inputmode: "numeric" });
  const form = h("form", { class: "row" },
    h("label", { class: "grow" }, "Name", name), h("label", {}, "Expires in days", days),
    h("button", { type: "submit", class: "primary" }, "Create token"));
  const node = h("section", { class: "card", "aria-label": "API tokens" }, h("h2", {}, "Your API tokens"),
    h("p", { class: "muted" }, "Use a token as Authorization: Bearer <token> on the API. It acts with your role."),
    form, notice, body);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const payload = { name: name.value.trim() };
    if (days.value.trim()) payload.expires_in_days = Number(days.value);
    try {
      const token = await api("/api/tokens", { method: "POST", body: payload });
      replace(notice, h("div", { class: "card token-card" },
        h("h3", {}, `Token "${token.name}" created`),
        h("p", {}, "Copy it now: it is shown only once."),
        h("div", { class: "copy-row" }, h("code", { class: "token" }, token.token), copyButton(() => token.token, "Copy token"))));
      name.value = ""; days.value = "";
      await load();
      changed();
    } catch (error) {
      replace(notice, message("error", error.message));
    }
  });

  async function load() {
    let tokens;
    try {
      tokens = (await api("/api/tokens")).items;
    } catch (error) {
      replace(body, message("error", `Cannot load your tokens: ${error.message}`));
      return;
    }
    if (!tokens.length) {
      replace(body, empty("You have no API tokens.", h("p", {}, "Create one above for scripts that call the API.")));
      return;
    }
    replace(body, h("table", { class: "table stack tokens" },
      h("thead", {}, h("tr", {}, ...["Name", "Created", "Expires", "Last used", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...tokens.map((token) => h("tr", { dataset: { token: token.id } },
        h("td", { "data-label": "Name" }, token.name),
        h("td", { "data-label": "Created" }, ago(token.created_at)),
        h("td", { "data-label": "Expires" }, token.expires_at ? dateTime(token.expires_at) : "never"),
        h("td", { "data-label": "Last used" }, ago(token.last_used_at)),
        h("td", { class: "actions" }, h("button", { type: "button", class: "small danger", onclick: async () => {
          if (!window.confirm(`Revoke the token "${token.name}"? Scripts using it stop working.`)) return;
          try {
            await api(`/api/tokens/${encodeURIComponent(token.id)}`, { method: "DELETE" });
            replace(notice, message("ok", `Token "${token.name}" revoked.`));
            await load();
            changed();
          } catch (error) { replace(notice, message("error", error.message)); }
        } }, "Revoke")))))));
  }
  return { node, load };
}

function auditSection() {
  const filters = { actor: "", action: "" };
  let stack = [];
  let before = null;
  const body = h("div", {});
  const pager = h("div", { class: "pager" });
  const actor = h("input", { type: "search", name: "actor", placeholder: "Actor (part of it)", "aria-label": "Actor" });
  const action = h("input", { type: "search", name: "action", placeholder: "Action, e.g. token or login", "aria-label": "Action" });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Audit filters" }, actor, action,
    h("button", { type: "submit", class: "small" }, "Filter"));
  const apply = () => {
    filters.actor = actor.value.trim(); filters.action = action.value.trim(); stack = []; before = null; load();
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  for (const input of [actor, action]) input.addEventListener("change", apply);
  const node = h("section", { class: "card", "aria-label": "Audit log" }, h("h2", {}, "Audit log"), form, body, pager);

  async function load() {
    let reply;
    try {
      const part = filters.actor || filters.action ? "part" : "";
      reply = await api(`/api/audit${query({ ...filters, match: part, limit: PAGE, before })}`);
    } catch (error) {
      replace(body, message("error", `Cannot load the audit log: ${error.message}`));
      return;
    }
    if (!reply.items.length) {
      replace(body, empty(filters.actor || filters.action ? "Nothing matches these filters." : "Nothing recorded yet."));
    } else {
      replace(body, h("div", { class: "table-scroll" }, h("table", { class: "table stack audit" },
        h("thead", {}, h("tr", {}, ...["When", "Actor", "Action", "Target", "Outcome", "Details"].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...reply.items.map((entry) => h("tr", {},
          h("td", { "data-label": "When" }, dateTime(entry.at || entry.created_at)),
          h("td", { "data-label": "Actor" }, entry.actor || "—"),
          h("td", { "data-label": "Action" }, entry.action),
          h("td", { "data-label": "Target" }, entry.target ?? "—"),
          h("td", { "data-label": "Outcome" }, badge(entry.outcome || "ok", entry.outcome === "ok" ? "ok" : "bad")),
          h("td", { "data-label": "Details", class: "details" }, detailsText(entry))))))));
    }
    replace(pager,
      stack.length ? h("button", { type: "button", class: "small", onclick: () => { before = stack.pop(); load(); } }, "← Newer") : null,
      reply.next_before ? h("button", { type: "button", class: "small", onclick: () => { stack.push(before); before = reply.next_before; load(); } }, "Older →") : null);
  }
  return { node, load };
}

function detailsText(entry) {
  const details = entry.details || {};
  const parts = Object.entries(details).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
  if (entry.address) parts.push(`from ${entry.address}`);
  const text = parts.join(" · ");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text || "—";
}
