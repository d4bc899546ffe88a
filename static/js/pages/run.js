// Run: pick a tool, fill its typed form (checked as you type), pick agents by name, by
// tags (any or all of them: how many agents that reaches is said as you choose) or all
// online, and start a job.  `#/run/from/ID` opens prefilled with job ID's tool,
// parameters and agents (edit and run again).  Operators and admins only.

import { api } from "../api.js";
import { h, replace, message, empty } from "../dom.js";
import { checkParam, checkTool } from "../validate.js";
import { arrowKeys, keepFocus } from "../keys.js";
import { PAUSE_SECONDS, waitNote, wakeBy } from "../agent_wait.js";

// Kept while the console is open, so coming back to Run finds the last choices.
const memory = { tool: "ping", values: {}, mode: "online", names: new Set(), tags: new Set(), tagsMatch: "all" };

/** Fill the memory from a past job: its tool, parameters (as typed text) and agents. */
async function prefill(jobId) {
  const job = await api(`/api/jobs/${encodeURIComponent(jobId)}`);
  memory.tool = job.tool;
  memory.values[job.tool] = Object.fromEntries(Object.entries(job.params || {})
    .filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, String(v)]));
  memory.mode = "names";
  memory.names = new Set(job.agents || []);
  return job;
}

export async function render(page, ctx, args = []) {
  page.append(h("div", { class: "page-head" }, h("h1", {}, "Run a tool")));
  if (!ctx.can("operator")) {
    page.append(empty("Running tools needs the operator role.",
      h("p", {}, `You are logged in as ${ctx.me.role}. Ask an admin to make you an operator; meanwhile you can follow jobs in `,
        h("a", { href: "#/history" }, "History"), ".")));
    return null;
  }
  const notice = h("div", { class: "notice" });
  page.append(notice);
  let tools, agents;
  let from = null;
  try {
    if (args[0] === "from" && args[1]) from = await prefill(args[1]);
    [tools, agents] = await Promise.all([ctx.getTools(), api("/api/agents").then((r) => r.items)]);
  } catch (error) {
    page.append(message("error", `Cannot load tools and agents: ${error.message}`));
    return null;
  }
  if (from) {
    notice.append(message("info", `Prefilled from job #${from.job_id} (${from.full_target || from.target}); change what you like and run it.`));
  }
  if (!tools.find((t) => t.name === memory.tool)) memory.tool = tools[0].name;

  const toolBar = h("div", { class: "tool-picker", role: "radiogroup", "aria-label": "Tool" });
  const toolHelp = h("p", { class: "muted tool-help" });
  const fields = h("div", { class: "fields" });
  const selector = h("div", { class: "selector" });
  const summary = h("div", { class: "selection-summary", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary big" }, "Run");
  const form = h("form", { class: "run-form", novalidate: true, "aria-label": "Run a tool" },
    h("div", { class: "card" }, h("h2", {}, "1. Tool"), toolBar, toolHelp, fields),
    h("div", { class: "card" }, h("h2", {}, "2. Agents"), selector, summary),
    h("div", { class: "submit-row" }, submit));
  page.append(form);

  let errors = {};
  const inputs = {};

  function tool() { return tools.find((t) => t.name === memory.tool); }

  function drawTools() {
    keepFocus(toolBar, () => replace(toolBar, ...tools.map((t) => h("button", {
      type: "button", role: "radio", class: `tool-choice${t.name === memory.tool ? " active" : ""}`,
      "aria-checked": String(t.name === memory.tool), dataset: { tool: t.name, focus: `tool-${t.name}` }, title: t.description,
      onclick: () => { if (memory.tool === t.name) return; memory.tool = t.name; drawTools(); drawFields(false); update(); },
    }, t.title))));
    arrowKeys(toolBar, "[role=radio]");
    toolHelp.textContent = tool().description;
  }

  function drawFields(focusFirst = true) {
    const t = tool();
    const values = memory.values[t.name] || (memory.values[t.name] = {});
    replace(fields);
    for (const key of Object.keys(inputs)) delete inputs[key];
    for (const param of t.params) {
      let input;
      if (param.type === "choice") {
        input = h("select", { name: param.name },
          ...param.choices.map((c) => h("option", { value: c, selected: (values[param.name] ?? param.default) === c }, c)));
      } else {
        input = h("input", {
          name: param.name, autocomplete: "off", spellcheck: "false",
          inputmode: param.type === "int" ? "numeric" : param.type === "number" ? "decimal" : param.type === "url" ? "url" : "text",
          placeholder: param.default !== null ? String(param.default) : param.type === "url" ? "https://example.com/"
            : t.name === "dig" && param.name === "server" ? "an IP address, e.g. 192.0.2.53" : param.type === "host" ? "example.com or 192.0.2.1" : "",
          value: values[param.name] ?? "",
        });
      }
      const hint = param.type === "int" || param.type === "number" ? ` (${param.min}–${param.max})` : "";
      const error = h("span", { class: "field-error", id: `err-${param.name}`, "aria-live": "polite" });
      input.setAttribute("aria-describedby", `err-${param.name}`);
      input.addEventListener("input", () => { values[param.name] = input.value; update(); });
      inputs[param.name] = { input, error, param };
      fields.append(h("label", { class: `field${param.required ? " required" : ""}` },
        h("span", { class: "field-name" }, param.name.replace(/_/g, " "), param.required ? " *" : "", h("span", { class: "muted" }, hint)),
        input, h("span", { class: "field-help muted" }, param.description), error));
    }
    const first = t.params.find((p) => p.required);
    if (focusFirst && first && inputs[first.name]) inputs[first.name].input.focus();
  }

  function collect() {
    const t = tool();
    const params = {};
    errors = {};
    for (const [name, { input, param }] of Object.entries(inputs)) {
      const [value, error] = checkParam(param, input.value, { serviceLabels: t.name === "dig" && name === "target" });
      if (error) errors[name] = error;
      else if (value !== undefined) params[name] = value;
    }
    const cross = Object.keys(errors).length ? null : checkTool(t, { ...params });
    if (cross) errors[cross[0]] = cross[1];
    return params;
  }

  // --- agent selection ---

  const usable = () => agents.filter((a) => !a.disabled);
  const allTags = () => [...new Set(usable().flatMap((a) => a.tags))].sort();

  function selected() {
    if (memory.mode === "online") return usable().filter((a) => a.online);
    if (memory.mode === "tags") {
      if (!memory.tags.size) return [];
      const has = (a) => (memory.tagsMatch === "any" ? [...memory.tags].some((t) => a.tags.includes(t))
        : [...memory.tags].every((t) => a.tags.includes(t)));
      return usable().filter(has);
    }
    return usable().filter((a) => memory.names.has(a.name));
  }

  function drawSelector() {
    const modes = [["online", "All online"], ["names", "By name"], ["tags", "By tag"]];
    const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Choose agents" }, ...modes.map(([mode, text]) => h("button", {
      type: "button", role: "tab", class: `tab${memory.mode === mode ? " active" : ""}`, "aria-selected": String(memory.mode === mode),
      "aria-controls": "agent-choice", id: `mode-${mode}`,
      dataset: { mode, focus: `mode-${mode}` }, onclick: () => { memory.mode = mode; redrawSelector(); update(); },
    }, text)));
    let body;
    if (!usable().length) {
      body = empty("No agents to run on.", h("p", {}, ctx.can("admin")
        ? h("span", {}, "Add one on the ", h("a", { href: "#/agents" }, "Agents"), " page and start it.")
        : "Ask an admin to add agents."));
    } else if (memory.mode === "names") {
      const filter = h("input", { type: "search", placeholder: "Filter agents", "aria-label": "Filter agents" });
      const boxes = h("div", { class: "agent-checks" });
      const drawBoxes = () => {
        const needle = filter.value.trim().toLowerCase();
        // Disabled agents are listed too, greyed and not selectable, with the reason.
        replace(boxes, ...agents.filter((a) => !needle || a.name.toLowerCase().includes(needle) || a.tags.some((t) => t.toLowerCase().includes(needle)))
          .map((a) => {
            if (a.disabled) {
              return h("label", { class: "agent-check disabled", dataset: { agent: a.name, disabled: "true" } },
                h("input", { type: "checkbox", value: a.name, disabled: true, "aria-describedby": `why-${a.name}` }),
                h("span", { class: "dot offline" }), a.name,
                h("span", { class: "muted", id: `why-${a.name}` }, " disabled: gets no tasks until an admin enables it on Agents"));
            }
            const box = h("input", { type: "checkbox", value: a.name, checked: memory.names.has(a.name) });
            box.addEventListener("change", () => { if (box.checked) memory.names.add(a.name); else memory.names.delete(a.name); update(); });
            const waking = wakeBy(a) ? waitNote(a) : null;
            return h("label", { class: "agent-check", dataset: { agent: a.name } }, box,
              h("span", { class: `dot ${a.online ? "online" : "offline"}` }), a.name,
              h("span", { class: "muted" }, ` ${a.platform}`),
              waking ? h("span", { class: "muted", "data-testid": "wake-note" }, ` · ${waking.replace(/^agent /, "")}`) : null);
          }));
      };
      filter.addEventListener("input", drawBoxes);
      drawBoxes();
      body = h("div", {}, h("div", { class: "row" }, filter,
        h("button", { type: "button", class: "small", dataset: { focus: "select-online" }, onclick: () => { usable().filter((a) => a.online).forEach((a) => memory.names.add(a.name)); redrawSelector(); update(); } }, "Select online"),
        h("button", { type: "button", class: "small ghost", dataset: { focus: "clear" }, onclick: () => { memory.names.clear(); redrawSelector(); update(); } }, "Clear")), boxes);
    } else if (memory.mode === "tags") {
      const tags = allTags();
      const count = (tag) => usable().filter((a) => a.tags.includes(tag)).length;
      const matchGroup = h("div", { class: "tabs small-tabs", role: "radiogroup", "aria-label": "Agents having" },
        ...[["any", "any of the tags"], ["all", "all of the tags"]].map(([value, text]) => h("button", {
          type: "button", role: "radio", class: `tab${memory.tagsMatch === value ? " active" : ""}`, "aria-checked": String(memory.tagsMatch === value),
          dataset: { match: value, focus: `match-${value}` }, onclick: () => { memory.tagsMatch = value; redrawSelector(); update(); },
        }, text)));
      body = tags.length
        ? h("div", {}, h("div", { class: "row tags-match" }, h("span", { class: "muted" }, "Agents having"), matchGroup),
          h("div", { class: "tag-picker" }, ...tags.map((tag) => h("button", {
            type: "button", class: `chip${memory.tags.has(tag) ? " active" : ""}`, "aria-pressed": String(memory.tags.has(tag)),
            dataset: { tag, focus: `tag-${tag}` },
            onclick: () => { if (memory.tags.has(tag)) memory.tags.delete(tag); else memory.tags.add(tag); redrawSelector(); update(); },
          }, tag, h("span", { class: "chip-count", "aria-label": `${count(tag)} agents` }, String(count(tag)))))))
        : empty("No agent has tags yet.", h("p", {}, "Admins add tags on the Agents page."));
    } else {
      const off = agents.filter((a) => a.disabled).map((a) => a.name);
      body = h("p", { class: "muted" }, "Every enabled agent that is online now.",
        off.length ? h("span", { "data-testid": "disabled-note" }, ` Left out, disabled: ${off.join(", ")}.`) : null);
    }
    replace(selector, tabs, h("div", { id: "agent-choice", role: "tabpanel", "aria-labelledby": `mode-${memory.mode}` }, body));
    arrowKeys(tabs, "[role=tab]");
    const group = selector.querySelector("[role=radiogroup]");
    if (group) arrowKeys(group, "[role=radio]");
  }

  function redrawSelector() {
    keepFocus(selector, drawSelector);
  }

  function update() {
    const params = collect();
    for (const [name, { input, error }] of Object.entries(inputs)) {
      const shown = input.value.trim() !== "" || submitted;
      error.textContent = shown && errors[name] ? errors[name] : "";
      input.classList.toggle("invalid", Boolean(shown && errors[name]));
      input.setAttribute("aria-invalid", String(Boolean(shown && errors[name])));
    }
    const chosen = selected();
    const waking = chosen.filter((a) => wakeBy(a));
    const offline = chosen.filter((a) => !a.online && !wakeBy(a));
    clearTimeout(wakeTimer);
    if (waking.length) wakeTimer = setTimeout(() => { redrawSelector(); update(); }, Math.min(...waking.map((a) => wakeBy(a))) - Date.now() + 100);
    const t = tool();
    const unsupported = chosen.filter((a) => !t.platforms.includes(a.platform));
    const reach = memory.mode === "tags" && memory.tags.size
      ? ` (having ${memory.tagsMatch} of ${[...memory.tags].join(", ")}; ${chosen.filter((a) => a.online).length} online)` : "";
    replace(summary,
      h("p", { class: "count", "data-testid": "selected-count" },
        chosen.length === 1 ? "1 agent selected" : `${chosen.length} agents selected`, reach),
      offline.length ? h("p", { class: "warn-text" }, `${offline.length} offline: ${offline.map((a) => a.name).join(", ")}. Their tasks wait until they come back (or time out).`) : null,
      waking.length ? h("p", { class: "warn-text", "data-testid": "wake-summary" }, `Just enabled: ${waking.map((a) => a.name).join(", ")}. `
        + `toolbox-agent paused while disabled and asks again within ${PAUSE_SECONDS} s of being enabled: its task may wait that long.`) : null,
      unsupported.length ? h("p", { class: "warn-text" }, `${t.title} does not run on ${unsupported.map((a) => `${a.name} (${a.platform})`).join(", ")}: skipped.`) : null);
    submit.disabled = Boolean(Object.keys(errors).length) || !chosen.length || busy;
    submit.textContent = chosen.length ? `Run ${t.title} on ${chosen.length} agent${chosen.length === 1 ? "" : "s"}` : "Run";
    return params;
  }

  let submitted = false;
  let busy = false;
  let wakeTimer = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submitted = true;
    const params = update();
    if (Object.keys(errors).length || busy) return;
    const body = { tool: memory.tool, params };
    if (memory.mode === "tags") { body.tags = [...memory.tags]; body.tags_match = memory.tagsMatch; } else body.agents = selected().map((a) => a.name);
    busy = true;
    submit.disabled = true;
    replace(notice);
    try {
      const job = await api("/api/jobs", { method: "POST", body });
      ctx.focusHeading = true;
      ctx.jobFrom = "run";
      ctx.navigate(`#/jobs/${job.job_id}`);
    } catch (error) {
      replace(notice, message("error", error.message));
    } finally {
      busy = false;
      update();
    }
  });

  function onPresence(event) {
    const agent = agents.find((a) => a.name === event.data.name);
    if (!agent) return;
    agent.online = event.type === "agent.online";
    const dot = selector.querySelector(`label[data-agent="${CSS.escape(agent.name)}"] .dot`);
    if (dot) dot.className = `dot ${agent.online ? "online" : "offline"}`;
    update();
  }
  const reload = async () => {
    try { agents = (await api("/api/agents")).items; redrawSelector(); update(); } catch (error) { replace(notice, message("error", error.message)); }
  };
  const off = [ctx.live.on("agent.online", onPresence), ctx.live.on("agent.offline", onPresence), ctx.live.on("reset", reload)];

  drawTools();
  drawFields();
  drawSelector();
  update();
  return () => { off.forEach((f) => f()); clearTimeout(wakeTimer); };
}

