// Agents: who is online (live), their tags, platform, last seen and address; admins
// create agents (token shown once), reset tokens, edit tags, disable and delete.
// What Disable does is said where the button is (its title, a line under the table,
// the confirm), since it differs by agent: toolbox-agent pauses, the field agent is refused.

import { api } from "../api.js";
import { h, replace, message, empty, ago, badge, copyButton } from "../dom.js";

// "--token=…": a token may start with "-", which "--token …" would read as an option.
function agentCommand(name, token) {
  return `toolbox-agent --server ${location.origin} --name ${name} --token=${token}`;
}

/** The once-only token panel, with copy buttons and the command line. */
function tokenPanel(name, token, title) {
  const command = agentCommand(name, token);
  return h("div", { class: "card token-card", dataset: { agent: name } },
    h("h3", {}, title),
    h("p", {}, "This token is shown only now. Copy it, or start the agent with this command:"),
    h("div", { class: "copy-row" }, h("code", { class: "token", "data-testid": "agent-token" }, token),
      copyButton(() => token, "Copy token")),
    h("div", { class: "copy-row" }, h("code", { class: "command", "data-testid": "agent-command" }, command),
      copyButton(() => command, "Copy command")));
}

/** What disabling an agent does, in one sentence (the Disable button's title and help). */
export const DISABLE_HELP = "Disabled agents get no new tasks; toolbox-agent pauses and asks again every 30 s, "
  + "and resumes when enabled; the field agent keeps polling and is refused.";
const ENABLE_HELP = "Enabled agents get tasks again: toolbox-agent resumes within 30 s, the field agent at its next poll.";

function parseTags(text) {
  return text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
}

export async function render(page, ctx) {
  const isAdmin = ctx.can("admin");
  const notice = h("div", { class: "notice" });
  const list = h("div", {}, h("p", { class: "muted" }, "Loading agents…"));
  const counts = h("span", { class: "muted" });
  let agents = [];
  let editing = null;  // {name, node}: the agent whose tags are being edited

  page.append(
    h("div", { class: "page-head" }, h("h1", {}, "Agents"), counts),
    notice,
    isAdmin ? createForm() : null,
    list);

  function say(kind, ...text) { replace(notice, message(kind, ...text)); }

  function createForm() {
    const name = h("input", { name: "name", required: true, placeholder: "e.g. bj-telecom-1", autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}", title: "1-64 letters, digits, '.', '_' or '-'" });
    const tags = h("input", { name: "tags", placeholder: "tags, e.g. isp:telecom city:bj", autocomplete: "off" });
    const platform = h("select", { name: "platform" }, h("option", { value: "linux" }, "Linux"), h("option", { value: "windows" }, "Windows"));
    const created = h("div", {});
    const form = h("form", { class: "card form-inline", "aria-label": "Add an agent" },
      h("h2", {}, "Add an agent"),
      h("div", { class: "row" },
        h("label", {}, "Name", name), h("label", { class: "grow" }, "Tags", tags), h("label", {}, "Platform", platform),
        h("button", { type: "submit", class: "primary" }, "Create agent")),
      created);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const agent = await api("/api/agents", { method: "POST", body: { name: name.value.trim(), tags: parseTags(tags.value), platform: platform.value } });
        replace(created, tokenPanel(agent.name, agent.token, `Agent ${agent.name} created`));
        replace(notice);
        name.value = ""; tags.value = "";
        await load();
      } catch (error) {
        replace(created, message("error", error.message));
      }
    });
    return form;
  }

  async function load() {
    try {
      agents = (await api("/api/agents")).items;
      draw();
    } catch (error) {
      replace(list, message("error", `Cannot load the agents: ${error.message}`));
    }
  }

  function draw() {
    const online = agents.filter((a) => a.online).length;
    counts.textContent = agents.length ? `${online} of ${agents.length} online` : "";
    if (!agents.length) {
      replace(list, empty("No agents yet.", isAdmin
        ? h("p", {}, "Add one above, then start toolbox-agent on the machine with the command shown.")
        : h("p", {}, "Ask an admin to add agents; they appear here as they come online.")));
      return;
    }
    const rows = agents.map((agent) => row(agent));
    replace(list, h("table", { class: "table stack agents" },
      h("thead", {}, h("tr", {}, ...["", "Name", "Tags", "Platform", "Last seen", "Address", isAdmin ? "" : null].filter((t) => t !== null).map((t) => h("th", {}, t)))),
      h("tbody", {}, ...rows)),
    isAdmin || agents.some((a) => a.disabled)
      ? h("p", { class: "muted help-text", id: "disable-help", "data-testid": "disable-help" }, h("strong", {}, "Disable: "), DISABLE_HELP,
        " The result of a task it is already running is still accepted; tasks queued for it wait.")
      : null);
  }

  function statusDot(agent) {
    if (agent.disabled) return h("span", { class: "dot disabled", title: "disabled" }, h("span", { class: "sr" }, "disabled"));
    return h("span", { class: `dot ${agent.online ? "online" : "offline"}`, title: agent.online ? "online" : "offline" },
      h("span", { class: "sr" }, agent.online ? "online" : "offline"));
  }

  function row(agent) {
    const tr = h("tr", { dataset: { agent: agent.name, online: String(agent.online) } },
      h("td", { class: "status", "data-label": "Status" }, statusDot(agent),
        h("span", { class: "status-text", title: agent.disabled ? DISABLE_HELP : null }, agent.disabled ? "disabled" : agent.online ? "online" : "offline")),
      h("td", { "data-label": "Name" }, h("strong", {}, agent.name)),
      h("td", { "data-label": "Tags" }, editing && editing.name === agent.name ? editing.node : agent.tags.length ? agent.tags.map((t) => badge(t, "tag")) : h("span", { class: "muted" }, "—")),
      h("td", { "data-label": "Platform" }, agent.platform),
      h("td", { "data-label": "Last seen" }, ago(agent.last_seen)),
      h("td", { "data-label": "Address" }, agent.address || h("span", { class: "muted" }, "—")),
      isAdmin ? h("td", { class: "actions" }, actions(agent)) : null);
    return tr;
  }

  function actions(agent) {
    const tagsButton = h("button", { type: "button", class: "small", onclick: () => editTags(agent) }, "Edit tags");
    const reset = h("button", { type: "button", class: "small", onclick: () => resetToken(agent) }, "Reset token");
    const toggle = h("button", { type: "button", class: "small", title: agent.disabled ? ENABLE_HELP : DISABLE_HELP,
      "aria-describedby": "disable-help", onclick: () => setDisabled(agent, !agent.disabled) }, agent.disabled ? "Enable" : "Disable");
    const remove = h("button", { type: "button", class: "small danger", onclick: () => remove_(agent) }, "Delete");
    return h("div", { class: "buttons" }, tagsButton, reset, toggle, remove);
  }

  function editTags(agent) {
    const input = h("input", { value: agent.tags.join(" "), "aria-label": `Tags for ${agent.name}`, placeholder: "space or comma separated" });
    const stop = () => { editing = null; draw(); };
    const save = async () => {
      try {
        await api(`/api/agents/${encodeURIComponent(agent.name)}`, { method: "PATCH", body: { tags: parseTags(input.value) } });
        say("ok", `Tags of ${agent.name} saved.`);
        editing = null;
        await load();
      } catch (error) { say("error", error.message); }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save();
      if (event.key === "Escape") stop();
    });
    editing = { name: agent.name, node: h("div", { class: "inline-edit" }, input,
      h("button", { type: "button", class: "small primary", onclick: save }, "Save"),
      h("button", { type: "button", class: "small ghost", onclick: stop }, "Cancel")) };
    draw();
    input.focus();
  }

  async function resetToken(agent) {
    if (!window.confirm(`Reset the token of ${agent.name}? The running agent stops working until it gets the new token.`)) return;
    try {
      const reply = await api(`/api/agents/${encodeURIComponent(agent.name)}/token`, { method: "POST" });
      replace(notice, tokenPanel(agent.name, reply.token, `New token for ${agent.name}`));
    } catch (error) { say("error", error.message); }
  }

  async function setDisabled(agent, disabled) {
    if (disabled && !window.confirm(`Disable agent ${agent.name}?\n\n${DISABLE_HELP}\nThe result of a task it is already running is still accepted; tasks queued for it wait until it is enabled (or they time out).`)) return;
    try {
      await api(`/api/agents/${encodeURIComponent(agent.name)}`, { method: "PATCH", body: { disabled } });
      say("ok", disabled
        ? `${agent.name} disabled: it gets no new tasks. toolbox-agent pauses and asks again every 30 s; the field agent is refused.`
        : `${agent.name} enabled: toolbox-agent resumes within 30 s, the field agent at its next poll.`);
      await load();
    } catch (error) { say("error", error.message); }
  }

  async function remove_(agent) {
    if (!window.confirm(`Delete agent ${agent.name}? Its queued tasks are canceled and a task it is running ends lost.`)) return;
    try {
      await api(`/api/agents/${encodeURIComponent(agent.name)}`, { method: "DELETE" });
      say("ok", `${agent.name} deleted.`);
      await load();
    } catch (error) { say("error", error.message); }
  }

  function onPresence(event) {
    const agent = agents.find((a) => a.name === event.data.name);
    if (!agent) { load(); return; }
    agent.online = event.type === "agent.online";
    if (agent.online) agent.last_seen = new Date(event.at * 1000).toISOString();
    draw();
  }

  const off = [
    ctx.live.on("agent.online", onPresence),
    ctx.live.on("agent.offline", onPresence),
    ctx.live.on("reset", load),
    ctx.live.on("reconnected", load),
  ];
  const ticker = setInterval(draw, 30000);  // keep "last seen" fresh
  await load();
  return () => { off.forEach((f) => f()); clearInterval(ticker); };
}
