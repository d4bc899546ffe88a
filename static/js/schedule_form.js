// What schedules' forms share: the intervals one picks from, how an interval and a
// schedule's agents read in words, and the "Repeat every…" control of a job view (a
// schedule made from the job's tool, parameters and agents, at the interval picked).

import { api } from "./api.js";
import { h, replace, message } from "./dom.js";

export const INTERVALS = [[60, "1 min"], [300, "5 min"], [600, "10 min"], [900, "15 min"], [1800, "30 min"],
  [3600, "1 h"], [6 * 3600, "6 h"], [12 * 3600, "12 h"], [86400, "1 day"]];

/** "every 5 min", "every 90 s". */
export function everyText(seconds) {
  const known = INTERVALS.find(([value]) => value === seconds);
  if (known) return `every ${known[1]}`;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

/** Which agents a schedule runs on, in words. */
export function agentsText(schedule) {
  if (schedule.all) return "all agents";
  if (schedule.tags && schedule.tags.length) {
    return `${schedule.tags_match === "any" ? "any of" : "all of"} tags ${schedule.tags.join(", ")}`;
  }
  return (schedule.agents || []).join(", ") || "—";
}

/** An interval <select> (the current value kept even when it is not one of the presets). */
export function intervalSelect(current = 300, attrs = {}) {
  const options = INTERVALS.some(([value]) => value === current) ? INTERVALS : [[current, everyText(current).slice(6)], ...INTERVALS];
  return h("select", { name: "interval", ...attrs },
    ...options.map(([value, text]) => h("option", { value: String(value), selected: value === current }, text)));
}

/** The body that schedules what `job` ran: its tool, parameters and agents. */
export function scheduleBody(job, interval, name) {
  const params = Object.fromEntries(Object.entries(job.params || {}).filter(([, v]) => v !== null && v !== undefined));
  return { name: name || `${job.tool} ${job.full_target || job.target || ""}`.trim(), tool: job.tool, params,
    agents: [...(job.agents || [])], interval };
}

/**
 * "Repeat every…" for a job view: a button that opens a small form (interval, name) and
 * creates the schedule, then opens it.  Operators only (null otherwise).
 */
let kept = null;  // {jobId, node}: the job view redraws its action bar; an open form stays open

export function repeatControl(job, ctx) {
  if (!ctx.can("operator") || !(job.agents || []).length) return null;
  if (kept && kept.jobId === job.job_id && kept.node.isConnected) return kept.node;
  const wrap = h("span", { class: "repeat" });
  const toggle = h("button", { type: "button", class: "small", "aria-expanded": "false", "aria-controls": `repeat-${job.job_id}`,
    "data-testid": "repeat" }, "Repeat every…");
  const note = h("div", { "aria-live": "polite" });
  const interval = intervalSelect(300, { "aria-label": "Repeat every", "data-testid": "repeat-interval" });
  const name = h("input", { name: "name", value: scheduleBody(job, 300).name, maxlength: "100", "aria-label": "Schedule name" });
  const submit = h("button", { type: "submit", class: "small primary" }, "Create schedule");
  const form = h("form", { class: "repeat-form", id: `repeat-${job.job_id}`, hidden: true, "aria-label": "Repeat this job" },
    h("label", {}, "Every", interval), h("label", {}, "Name", name), submit,
    h("button", { type: "button", class: "small ghost", onclick: () => close() }, "Cancel"), note);
  const close = () => { form.hidden = true; toggle.setAttribute("aria-expanded", "false"); toggle.focus(); };
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) interval.focus();
  });
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const made = await api("/api/schedules", { method: "POST",
        body: scheduleBody(job, Number(interval.value), name.value.trim()) });
      ctx.focusHeading = true;
      ctx.navigate(`#/schedules/${made.schedule_id}`);
    } catch (error) {
      replace(note, message("error", `Could not create the schedule: ${error.message}`));
      submit.disabled = false;
    }
  });
  wrap.append(toggle, form);
  kept = { jobId: job.job_id, node: wrap };
  return wrap;
}
