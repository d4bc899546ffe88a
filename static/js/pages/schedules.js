// Schedules: every schedule with what it runs, on which agents, how often, its last
// round's summary (the round's job: its badges and one-line summary, or why the round
// was skipped), its next run, and (operators: their own; admins: all) Pause/Resume, Edit
// and Delete (asked first, in a dialog).  "New schedule" makes one from a tool, its
// parameters, agents by name or tag, and an interval.  Any schedule opens its graph
// (#/schedules/ID); the list follows the live feed (a round fired or skipped, its job ending).

import { api } from "../api.js";
import { h, replace, message, empty, ago } from "../dom.js";
import { jobBadges } from "../outcome.js";
import { formatTime } from "../format.js";
import { keepFocus } from "../keys.js";
import { INTERVALS, agentsText, everyText, intervalSelect } from "../schedule_form.js";

/** "in 4 min" / "due now" for a future time. */
export function inText(iso) {
  if (!iso) return "—";
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (seconds <= 5) return "due now";
  if (seconds < 60) return `in ${seconds} s`;
  if (seconds < 3600) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `in ${Math.round(seconds / 3600)} h`;
  return formatTime(iso);
}

function mayChange(ctx, schedule) {
  return ctx.can("admin") || (ctx.can("operator") && schedule.owner_id === ctx.me.id);
}

/** The last round in words: its job's badges and summary, or the reason it was skipped. */
export function lastRound(schedule, job) {
  const round = schedule.last_round;
  if (!round) return h("span", { class: "muted" }, "no round yet");
  if (round.state === "skipped") {
    return h("span", {}, h("span", { class: "badge warn" }, "skipped"), " ", round.reason || "", " ", ago(round.at));
  }
  const link = h("a", { href: `#/jobs/${round.job_id}` }, `#${round.job_id}`);
  if (!job) return h("span", {}, link, " ", ago(round.at));
  return h("span", { class: "last-round" }, link, " ", ...jobBadges(job), " ",
    h("span", { class: "muted" }, job.summary || ""), " ", ago(round.at));
}

function field(label, control, help = null) {
  return h("label", {}, h("span", { class: "field-name" }, label), control,
    help ? h("span", { class: "field-help muted" }, help) : null);
}

/** The create/edit form; `schedule` null for a new one.  Resolves the body on submit. */
function scheduleForm(tools, schedule, { onSubmit, onCancel }) {
  const current = schedule || { tool: "ping", params: {}, interval: 300, agents: [], name: "" };
  const tool = h("select", { name: "tool" }, ...tools.map((t) => h("option", { value: t.name, selected: t.name === current.tool }, t.title || t.name)));
  const params = h("div", { class: "fields" });
  const drawParams = () => {
    const spec = tools.find((t) => t.name === tool.value);
    replace(params, ...(spec ? spec.params.filter((p) => p.required || current.params[p.name] !== undefined) : []).map((p) =>
      field(p.name, h("input", { name: `param-${p.name}`, dataset: { param: p.name, type: p.type }, required: p.required,
        value: current.tool === tool.value && current.params[p.name] !== undefined && current.params[p.name] !== null
          ? String(current.params[p.name]) : "" }), p.description)));
  };
  tool.addEventListener("change", drawParams);
  drawParams();
  const byTags = Boolean(current.tags && current.tags.length);
  const agents = h("input", { name: "agents", value: byTags ? current.tags.join(", ") : (current.agents || []).join(", "),
    placeholder: "bj-1, sh-2 or isp:telecom" });
  const mode = h("select", { name: "mode", "aria-label": "Agents by" },
    h("option", { value: "names", selected: !byTags && !current.all }, "Agents named"),
    h("option", { value: "tags", selected: byTags }, "Agents with all of the tags"),
    h("option", { value: "any", selected: byTags && current.tags_match === "any" }, "Agents with any of the tags"),
    h("option", { value: "all", selected: Boolean(current.all) }, "All agents"));
  const name = h("input", { name: "name", value: current.name || "", maxlength: "100", placeholder: "ping example.com" });
  const interval = intervalSelect(current.interval, {});
  const note = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, schedule ? "Save" : "Create schedule");
  const form = h("form", { class: "card schedule-form", "aria-label": schedule ? `Edit schedule ${schedule.name}` : "New schedule" },
    h("h2", {}, schedule ? `Edit ${schedule.name}` : "New schedule"),
    h("div", { class: "fields" }, field("Name", name), field("Tool", tool), field("Every", interval),
      field("Agents by", mode), field("Agents or tags", agents, "separate them with commas")),
    params, note,
    h("div", { class: "form-actions" }, submit, h("button", { type: "button", class: "ghost", onclick: onCancel }, "Cancel")));
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") onCancel(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { tool: tool.value, interval: Number(interval.value), params: {} };
    if (name.value.trim()) body.name = name.value.trim();
    for (const input of params.querySelectorAll("input[data-param]")) {
      const text = input.value.trim();
      if (text === "") continue;
      body.params[input.dataset.param] = input.dataset.type === "int" && /^-?\d+$/.test(text) ? Number(text) : text;
    }
    const list = agents.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (mode.value === "all") body.all = true;
    else if (mode.value === "names") body.agents = list;
    else { body.tags = list; body.tags_match = mode.value === "any" ? "any" : "all"; }
    submit.disabled = true;
    try {
      await onSubmit(body);
    } catch (error) {
      replace(note, message("error", error.message));
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(page, ctx) {
  const head = h("div", { class: "page-head" }, h("h1", {}, "Schedules"));
  const notice = h("div", { "aria-live": "polite" });
  const formSlot = h("div");
  const list = h("div", { class: "card", id: "schedule-list" });
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" });
  page.append(head, notice, formSlot, list, dialog);
  let tools = [];
  try { tools = await ctx.getTools(); } catch { tools = []; }
  let schedules = [];
  const jobs = new Map();
  let opener = null;

  if (ctx.can("operator")) {
    head.append(h("button", { type: "button", class: "primary", "data-testid": "new-schedule", onclick: (event) => openForm(null, event.currentTarget) },
      "New schedule"));
  }

  function openForm(schedule, from) {
    opener = from;
    const close = () => { replace(formSlot); if (opener && opener.isConnected) opener.focus(); };
    const form = scheduleForm(tools, schedule, {
      onCancel: close,
      onSubmit: async (body) => {
        if (schedule) {
          await api(`/api/schedules/${schedule.schedule_id}`, { method: "PATCH", body });
          replace(formSlot);
          replace(notice, message("ok", `Saved ${body.name || schedule.name}.`));
        } else {
          const made = await api("/api/schedules", { method: "POST", body });
          replace(formSlot);
          replace(notice, message("ok", `Created ${made.name}: its first round runs ${inText(made.next_run).replace("due ", "")}.`));
        }
        await load();
      },
    });
    replace(formSlot, form);
    form.querySelector("input, select").focus();
  }

  async function setEnabled(schedule, enabled) {
    try {
      await api(`/api/schedules/${schedule.schedule_id}`, { method: "PATCH", body: { enabled } });
      replace(notice, message("ok", `${schedule.name} ${enabled ? "resumed" : "paused"}.`));
      await load();
    } catch (error) {
      replace(notice, message("error", `Could not ${enabled ? "resume" : "pause"} ${schedule.name}: ${error.message}`));
    }
  }

  function confirmDelete(schedule, from) {
    const yes = h("button", { type: "button", class: "danger", "data-testid": "confirm-delete" }, "Delete");
    const no = h("button", { type: "button", class: "ghost" }, "Keep it");
    replace(dialog, h("h2", { id: "confirm-title" }, `Delete ${schedule.name}?`),
      h("p", {}, "Its rounds and graph go with it; the jobs it ran stay in History."),
      h("div", { class: "form-actions" }, yes, no));
    const done = () => { dialog.close(); if (from.isConnected) from.focus(); };
    no.addEventListener("click", done);
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await api(`/api/schedules/${schedule.schedule_id}`, { method: "DELETE" });
        dialog.close();
        replace(notice, message("ok", `Deleted ${schedule.name}.`));
        await load();
        const first = list.querySelector("a, button");
        (first || head.querySelector("h1")).focus();
      } catch (error) {
        dialog.close();
        replace(notice, message("error", `Could not delete ${schedule.name}: ${error.message}`));
      }
    });
    dialog.showModal();
    no.focus();
  }

  function row(schedule) {
    const changeable = mayChange(ctx, schedule);
    const paused = !schedule.enabled;
    const actions = changeable ? [
      h("button", { type: "button", class: "small", "data-testid": "toggle", "aria-label": `${paused ? "Resume" : "Pause"} ${schedule.name}`,
        onclick: () => setEnabled(schedule, paused) }, paused ? "Resume" : "Pause"),
      h("button", { type: "button", class: "small", "aria-label": `Edit ${schedule.name}`, dataset: { testid: "edit" },
        onclick: (event) => openForm(schedule, event.currentTarget) }, "Edit"),
      h("button", { type: "button", class: "small danger", "aria-label": `Delete ${schedule.name}`, dataset: { testid: "delete" },
        onclick: (event) => confirmDelete(schedule, event.currentTarget) }, "Delete"),
    ] : [];
    return h("tr", { dataset: { schedule: String(schedule.schedule_id), enabled: String(schedule.enabled) } },
      h("td", { "data-label": "Name" }, h("a", { href: `#/schedules/${schedule.schedule_id}`, class: "schedule-name" }, schedule.name),
        h("div", { class: "muted small-text" }, `${schedule.tool} ${schedule.target || ""}`)),
      h("td", { "data-label": "Agents" }, agentsText(schedule)),
      h("td", { "data-label": "Every" }, everyText(schedule.interval)),
      h("td", { "data-label": "Last round", "data-testid": "last-round" }, lastRound(schedule, jobs.get(schedule.last_round && schedule.last_round.job_id))),
      h("td", { "data-label": "Next run", "data-testid": "next-run" }, paused
        ? h("span", { class: "badge" }, "paused")
        : h("span", { title: formatTime(schedule.next_run) }, schedule.next_run ? inText(schedule.next_run) : "no more rounds")),
      h("td", { class: "actions" }, ...actions));
  }

  function draw() {
    if (!schedules.length) {
      replace(list, empty("No schedules yet.", h("p", {}, ctx.can("operator")
        ? "Make one with New schedule, or open a job and choose Repeat every…"
        : "Operators make them; each one runs a tool again and again and draws the results over time.")));
      return;
    }
    keepFocus(list, () => replace(list, h("div", { class: "table-scroll" }, h("table", { class: "table stack schedules" },
      h("thead", {}, h("tr", {}, ...["Name", "Agents", "Every", "Last round", "Next run"].map((t) => h("th", { scope: "col" }, t)),
        h("th", { scope: "col" }, h("span", { class: "offscreen" }, "Actions")))),
      h("tbody", {}, ...schedules.map(row))))));
  }

  async function load() {
    try {
      schedules = (await api("/api/schedules?limit=200")).items;
    } catch (error) {
      replace(list, message("error", `Schedules could not load: ${error.message}`));
      return;
    }
    const wanted = schedules.map((s) => s.last_round && s.last_round.job_id).filter((id) => id && !jobs.has(id));
    await Promise.all(wanted.map(async (id) => {
      try { jobs.set(id, await api(`/api/jobs/${id}`)); } catch { /* the job was pruned: its number is shown */ }
    }));
    draw();
  }

  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(load, 400); };
  const onEvent = (event) => {
    const data = event.data || {};
    if (event.type === "schedule.round") soon();  // fired or skipped: last round, next run
    else if ((event.type === "job.created" || event.type === "job.done") && data.schedule_id) {
      if (event.type === "job.done") jobs.set(data.job_id, { ...(jobs.get(data.job_id) || {}), ...data });
      soon();
    }
  };
  const ticker = setInterval(() => { if (schedules.length) draw(); }, 15000);  // "in 4 min" stays true
  await load();
  const off = [ctx.live.on("*", onEvent), ctx.live.on("reset", load), ctx.live.on("reconnected", load)];
  return () => { off.forEach((fn) => fn()); clearInterval(ticker); clearTimeout(timer); };
}

export { INTERVALS };
