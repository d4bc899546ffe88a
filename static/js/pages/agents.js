// Agents: who is online (live), their tags, platform, last seen and address, at fleet
// size: search, sort, group by a tag's key, tag chips with counts that filter, compact
// rows with the admin actions in a menu.  Admins create agents (token shown once, kept
// when a later create fails), reset tokens, edit tags, disable and delete.  What Disable
// does is said where it is chosen (its title, a line under the table, the confirm),
// since it differs by agent: toolbox-agent pauses, the field agent is refused.

import { api } from "../api.js";
import { h, replace, message, empty, ago, badge, copyButton } from "../dom.js";
import { actionMenu } from "../menu.js";
import { keepFocus } from "../keys.js";
import { SORTS, groupKeys, grouped, matches, tagCounts } from "../fleet.js";

// Kept while the console is open.
const view = { search: "", sort: "name", group: "", tags: new Set() };

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
  const counts = h("span", { class: "muted", "data-testid": "agent-counts" });
  const tools = h("div", { class: "fleet-tools" });
  let agents = [];
  let editing = null;  // {name, node}: the agent whose tags are being edited

  page.append(
    h("div", { class: "page-head" }, h("h1", {}, "Agents"), counts),
    notice,
    isAdmin ? createForm() : null,
    tools,
    list);

  function say(kind, ...text) { replace(notice, message(kind, ...text)); }

  function createForm() {
    const name = h("input", { name: "name", required: true, placeholder: "e.g. bj-telecom-1", autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}", title: "1-64 letters, digits, '.', '_' or '-'" });
    const tags = h("input", { name: "tags", placeholder: "tags, e.g. isp:telecom city:bj", autocomplete: "off" });
    const platform = h("select", { name: "platform" }, h("option", { value: "linux" }, "Linux"), h("option", { value: "windows" }, "Windows"));
    const created = h("div", {});
    const failed = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "card form-inline", "aria-label": "Add an agent" },
      h("h2", {}, "Add an agent"),
      h("div", { class: "row" },
        h("label", {}, "Name", name), h("label", { class: "grow" }, "Tags", tags), h("label", {}, "Platform", platform),
        h("button", { type: "submit", class: "primary" }, "Create agent")),
      failed, created);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const agent = await api("/api/agents", { method: "POST", body: { name: name.value.trim(), tags: parseTags(tags.value), platform: platform.value } });
        replace(created, tokenPanel(agent.name, agent.token, `Agent ${agent.name} created`));
        replace(failed);
        replace(notice);
        name.value = ""; tags.value = "";
        await load();
      } catch (error) {
        replace(failed, message("error", error.message));  // an earlier once-only token stays shown
      }
    });
    return form;
  }

  async function load() {
    try {
      agents = (await api("/api/agents")).items;
      keepFocus(tools, drawTools);
      draw();
    } catch (error) {
      replace(list, message("error", `Cannot load the agents: ${error.message}`));
    }
  }

  function drawTools() {
    const search = h("input", { type: "search", value: view.search, placeholder: "Search name, tag, address", "aria-label": "Search agents",
      dataset: { focus: "agent-search" } });
    search.addEventListener("input", () => { view.search = search.value; draw(); });
    const sort = h("select", { "aria-label": "Sort agents", dataset: { focus: "agent-sort" } },
      ...Object.entries(SORTS).map(([key, s]) => h("option", { value: key, selected: key === view.sort }, `Sort: ${s.label}`)));
    sort.addEventListener("change", () => { view.sort = sort.value; draw(); });
    const keys = groupKeys(agents);
    const group = h("select", { "aria-label": "Group agents by tag", dataset: { focus: "agent-group" } },
      h("option", { value: "" }, "No grouping"), ...keys.map((key) => h("option", { value: key, selected: key === view.group }, `Group by ${key}`)));
    group.addEventListener("change", () => { view.group = group.value; draw(); });
    const chips = tagCounts(agents).map(([tag, n]) => h("button", {
      type: "button", class: `chip${view.tags.has(tag) ? " active" : ""}`, "aria-pressed": String(view.tags.has(tag)), dataset: { tag, focus: `chip-${tag}` },
      onclick: () => { if (view.tags.has(tag)) view.tags.delete(tag); else view.tags.add(tag); keepFocus(tools, drawTools); draw(); },
    }, tag, h("span", { class: "chip-count" }, h("span", { class: "sr" }, ", agents: "), String(n))));
    replace(tools, h("div", { class: "row fleet-controls" }, search, sort, group),
      chips.length ? h("div", { class: "tag-picker", role: "group", "aria-label": "Filter by tag (agents having all chosen)" }, ...chips) : null);
  }

  function draw() {
    const online = agents.filter((a) => a.online).length;
    counts.textContent = agents.length ? `${online} of ${agents.length} online` : "";
    if (!agents.length) {
      replace(tools);
      replace(list, empty("No agents yet.", isAdmin
        ? h("p", {}, "Add one above, then start toolbox-agent on the machine with the command shown.")
        : h("p", {}, "Ask an admin to add agents; they appear here as they come online.")));
      return;
    }
    if (!tools.childElementCount) drawTools();
    const shown = agents.filter((a) => matches(a, view.search, view.tags)).sort(SORTS[view.sort].compare);
    const heads = ["Status", "Name", "Tags", "Platform", "Last seen", "Address", isAdmin ? "Actions" : null].filter(Boolean);
    const table = (members) => h("table", { class: "table stack agents compact" },
      h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", { scope: "col" }, t === "Status" || t === "Actions" ? h("span", { class: "sr" }, t) : t)))),
      h("tbody", {}, ...members.map((agent) => row(agent))));
    const groups = grouped(shown, view.group);
    keepFocus(list, () => replace(list,
      h("p", { class: "muted", "data-testid": "agents-shown", "aria-live": "polite" },
        shown.length === agents.length ? `${agents.length} agents` : `${shown.length} of ${agents.length} agents match`),
      shown.length ? groups.map((g) => (g.title === null ? table(g.agents)
        : h("section", { class: "agent-group", "aria-label": g.title, dataset: { group: g.title } },
          h("h2", { class: "group-title" }, g.title, " ", h("span", { class: "muted" }, `${g.agents.length} · ${g.agents.filter((a) => a.online).length} online`)),
          table(g.agents))))
        : empty("No agent matches.", h("p", {}, "Clear the search or a tag.")),
    isAdmin || agents.some((a) => a.disabled)
      ? h("p", { class: "muted help-text", id: "disable-help", "data-testid": "disable-help" }, h("strong", {}, "Disable: "), DISABLE_HELP,
        " The result of a task it is already running is still accepted; tasks queued for it wait.")
      : null));
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
      h("td", { "data-label": "Name", class: "name-cell" }, h("strong", {}, agent.name)),
      h("td", { "data-label": "Tags" }, editing && editing.name === agent.name ? editing.node : agent.tags.length ? agent.tags.map((t) => badge(t, "tag")) : h("span", { class: "muted" }, "—")),
      h("td", { "data-label": "Platform" }, agent.platform),
      h("td", { "data-label": "Last seen", class: "nowrap" }, ago(agent.last_seen)),
      h("td", { "data-label": "Address" }, agent.address || h("span", { class: "muted" }, "—")),
      isAdmin ? h("td", { class: "actions" }, actions(agent)) : null);
    return tr;
  }

  function actions(agent) {
    return actionMenu("Actions", [
      { label: "Edit tags", onSelect: () => editTags(agent) },
      { label: "Reset token", onSelect: () => resetToken(agent) },
      { label: agent.disabled ? "Enable" : "Disable", title: agent.disabled ? ENABLE_HELP : DISABLE_HELP,
        describedby: "disable-help", onSelect: () => setDisabled(agent, !agent.disabled) },
      { label: "Delete", danger: true, onSelect: () => remove_(agent) },
    ], { name: `Actions for ${agent.name}` });
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
  await load();  // "last seen" stays fresh by itself (refreshTimes in main.js)
  return () => off.forEach((f) => f());
}
