// History: past jobs (filter by tool, user, target, state) and tasks (filter by agent,
// state), newest first, a page at a time, each with its outcome in words and colour and
// the server's one-line summary (a job where every agent failed reads "2 failed", not
// "done"); any job opens in the job view.  Text filters match a part of a name
// (?match=part) and apply on Enter or when left; the page never reloads.  Jobs filter by
// outcome too (?outcome=failed…); a target typed as shown ("127.0.0.1:8080") finds it.
// The first page is live: a job started or ended elsewhere (the feed's job.* events, task.*
// on the Tasks tab) re-reads it quietly, at most twice a second; older pages stay still.
// A dig row says its record type ("dig MX"), so A, AAAA and MX jobs tell apart.

import { api, query } from "../api.js";
import { h, replace, message, empty, ago, copyButton } from "../dom.js";
import { outcomeBadge, outcomeKind, outcomeText, taskStatus, jobBadges, jobKey } from "../outcome.js";
import { rawOutput, hasOutput, fetchWholeResult, loadingNote } from "../raw.js";
import { arrowKeys, keepFocus } from "../keys.js";

const PAGE = 25;
const JOB_STATES = ["running", "done", "canceled"];
const JOB_OUTCOMES = ["failed", "partial", "ok"];  // GET /api/jobs?outcome=: ended jobs only
const LIVE_MS = 500;
const TASK_STATES = ["queued", "dispatched", "done", "canceled", "delivery_timeout", "lost"];

// The last filters, kept while the console is open.
const memory = { tab: "jobs", jobs: { tool: "", user: "", target: "", state: "", outcome: "" }, tasks: { agent: "", state: "" } };

export async function render(page, ctx) {
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Jobs or tasks" });
  const filters = h("form", { class: "filters", "aria-label": "Filters", role: "search" });
  const results = h("div", { class: "card", id: "history-list", role: "tabpanel" });
  filters.addEventListener("submit", (event) => {  // Enter in a filter: apply it, never reload
    event.preventDefault();
    for (const input of filters.querySelectorAll("input")) memory[memory.tab][input.name] = input.value.trim();
    stack = []; before = null; load();
  });
  const pager = h("div", { class: "pager" });
  page.append(h("div", { class: "page-head" }, h("h1", {}, "History")), tabs, filters, results, pager);

  let tools = [];
  try { tools = await ctx.getTools(); } catch { tools = []; }
  let stack = [];  // "before" cursors of the pages above this one
  let before = null;

  function drawTabs() {
    keepFocus(tabs, () => replace(tabs, ...[["jobs", "Jobs"], ["tasks", "Tasks"]].map(([tab, text]) => h("button", {
      type: "button", role: "tab", class: `tab${memory.tab === tab ? " active" : ""}`, "aria-selected": String(memory.tab === tab),
      "aria-controls": "history-list", dataset: { focus: `tab-${tab}` },
      onclick: () => { if (memory.tab === tab) return; memory.tab = tab; stack = []; before = null; drawTabs(); drawFilters(); load(); },
    }, text))));
    arrowKeys(tabs, "[role=tab]");
  }

  function select(name, current, options, label) {
    const node = h("select", { name, "aria-label": label },
      h("option", { value: "" }, `Any ${label.toLowerCase()}`),
      ...options.map(([value, text]) => h("option", { value, selected: value === current }, text)));
    node.addEventListener("change", () => { memory[memory.tab][name] = node.value; stack = []; before = null; load(); });
    return node;
  }

  function text(name, current, placeholder) {
    const node = h("input", { name, value: current, placeholder, "aria-label": placeholder, type: "search", enterkeyhint: "search" });
    node.addEventListener("change", () => {
      if (memory[memory.tab][name] === node.value.trim()) return;
      memory[memory.tab][name] = node.value.trim(); stack = []; before = null; load();
    });
    return node;
  }

  const apply = () => h("button", { type: "submit", class: "small" }, "Filter");

  function drawFilters() {
    const f = memory[memory.tab];
    if (memory.tab === "jobs") {
      replace(filters,
        select("tool", f.tool, tools.map((t) => [t.name, t.title]), "Tool"),
        text("user", f.user, "User (part of the name)"),
        text("target", f.target, "Target (part of it, e.g. /healthz)"),
        select("state", f.state, JOB_STATES.map((s) => [s, s]), "State"),
        select("outcome", f.outcome, JOB_OUTCOMES.map((o) => [o, outcomeText(o)]), "Outcome"), apply());
    } else {
      replace(filters,
        text("agent", f.agent, "Agent (part of the name)"),
        select("state", f.state, TASK_STATES.map((s) => [s, s.replace("_", " ")]), "State"), apply());
    }
  }

  async function load({ quiet = false } = {}) {
    if (!quiet) replace(results, h("p", { class: "muted" }, "Loading…"));
    const path = memory.tab === "jobs" ? "/api/jobs" : "/api/tasks";
    let reply;
    try {
      const filter = memory[memory.tab];
      const part = filter.user || filter.target || filter.agent ? "part" : "";
      reply = await api(path + query({ ...filter, match: part, limit: PAGE, before }));
    } catch (error) {
      if (quiet) return;  // a live re-read that failed: the rows shown stay
      replace(results, message("error", `Cannot load the ${memory.tab}: ${error.message}`));
      replace(pager);
      return;
    }
    const filtered = Object.values(memory[memory.tab]).some(Boolean);
    if (!reply.items.length) {
      replace(results, filtered
        ? empty(`No ${memory.tab} match these filters.`, h("p", {}, "Clear a filter to see more."))
        : empty(`No ${memory.tab} yet.`, ctx.can("operator")
          ? h("p", {}, "Start one on the ", h("a", { href: "#/run" }, "Run"), " page.")
          : h("p", {}, "Jobs that operators run show up here.")));
    } else if (quiet && memory.tab === "tasks" && results.querySelector(".raw-row:not([hidden])")) {
      return;  // someone is reading a task's raw output: not redrawn under them
    } else {
      keepFocus(results, () => replace(results, memory.tab === "jobs" ? jobsTable(reply.items) : tasksTable(reply.items)));
    }
    replace(pager,
      stack.length ? h("button", { type: "button", class: "small", onclick: () => { before = stack.pop(); load(); } }, "← Newer") : null,
      stack.length ? h("button", { type: "button", class: "small ghost", onclick: () => { stack = []; before = null; load(); } }, "Newest") : null,
      reply.next_before ? h("button", { type: "button", class: "small", onclick: () => { stack.push(before); before = reply.next_before; load(); } }, "Older →") : null);
  }

  function jobsTable(items) {
    return h("div", { class: "table-scroll" }, h("table", { class: "table stack history", "data-testid": "jobs" },
      h("thead", {}, h("tr", {}, ...["Job", "Tool", "Target", "Agents", "Outcome", "By", "When"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...items.map((job) => {
        const c = job.counts || {};
        const key = jobKey(job);
        const tr = h("tr", { class: `link-row row-${outcomeKind(key)}`, dataset: { job: String(job.job_id), outcome: key, focus: `job-${job.job_id}` }, tabindex: "0" },
          h("td", { "data-label": "Job" }, h("a", { href: `#/jobs/${job.job_id}` }, `#${job.job_id}`)),
          h("td", { "data-label": "Tool" }, job.tool, job.tool === "dig" && job.params && job.params.record_type
            ? h("span", { class: "record-type", "data-testid": "record-type" }, ` ${job.params.record_type}`) : null),
          h("td", { "data-label": "Target", class: "target" }, job.full_target || job.target || "—"),
          h("td", { "data-label": "Agents" }, String(c.requested ?? job.agents.length)),
          h("td", { "data-label": "Outcome", class: "outcome-cell" }, ...jobBadges(job), " ",
            h("span", { class: "row-note", "data-testid": "job-summary" }, job.summary || "")),
          h("td", { "data-label": "By" }, job.created_by || "—"),
          h("td", { "data-label": "When" }, ago(job.created_at)));
        const open = () => { ctx.jobFrom = "history"; ctx.navigate(`#/jobs/${job.job_id}`); };
        tr.addEventListener("click", (event) => { ctx.jobFrom = "history"; if (!event.target.closest("a")) open(); });
        tr.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
        return tr;
      }))));
  }

  function rawCell(task) {
    const pre = h("pre", { class: "raw" });
    const note = h("p", { class: "muted" });
    const show = () => {
      const { text, complete } = rawOutput(task);
      pre.textContent = text ?? "(no output yet)";
      note.hidden = complete;
      if (!complete) note.textContent = loadingNote(task);
    };
    show();
    const load = async () => {
      if (rawOutput(task).complete) return;
      try {
        task.result = await fetchWholeResult(task.task_id);
        show();
      } catch (error) {
        note.textContent = `The whole output could not be loaded: ${error.message}`;
        note.className = "bad-text";
      }
    };
    const row = h("tr", { class: "raw-row", hidden: true }, h("td", { colspan: "7" },
      h("div", { class: "raw-head" }, h("span", { class: "muted" }, task.command), copyButton(() => rawOutput(task).text || "", "Copy output")),
      note, pre));
    return { row, load };
  }

  function tasksTable(items) {
    const body = h("tbody", {});
    for (const task of items) {
      const raw = rawCell(task);
      const toggle = h("button", { type: "button", class: "small ghost", onclick: () => {
        raw.row.hidden = !raw.row.hidden; toggle.textContent = raw.row.hidden ? "Raw" : "Hide raw";
        if (!raw.row.hidden) raw.load();
      } }, "Raw");
      const status = taskStatus(task);
      body.append(h("tr", { class: `row-${outcomeKind(status.key)}`, dataset: { task: String(task.task_id), outcome: status.key } },
        h("td", { "data-label": "Task" }, `#${task.task_id}`),
        h("td", { "data-label": "Agent" }, task.agent),
        h("td", { "data-label": "Job" }, task.job_id ? h("a", { href: `#/jobs/${task.job_id}`, onclick: () => { ctx.jobFrom = "history"; } }, `#${task.job_id}`) : h("span", { class: "muted" }, "raw")),
        h("td", { "data-label": "Command", class: "command-cell" }, task.command),
        h("td", { "data-label": "Outcome", class: "outcome-cell" }, outcomeBadge(status.key), " ",
          h("span", { class: "row-note", "data-testid": "row-note" }, status.note)),
        h("td", { "data-label": "When" }, ago(task.created_at)),
        h("td", { class: "actions" }, hasOutput(task) ? toggle : null)), raw.row);
    }
    return h("div", { class: "table-scroll" }, h("table", { class: "table stack history", "data-testid": "tasks" },
      h("thead", {}, h("tr", {}, ...["Task", "Agent", "Job", "Command", "Outcome", "When", ""].map((t) => h("th", {}, t)))),
      body));
  }

  // Live rows: the first page re-read (quietly, merged) when a job or task changes.
  let liveTimer = null;
  const onLive = (event) => {
    const wanted = memory.tab === "jobs" ? event.type.startsWith("job.") : event.type.startsWith("task.");
    if (!wanted || before !== null || stack.length || liveTimer) return;
    liveTimer = setTimeout(() => { liveTimer = null; load({ quiet: true }); }, LIVE_MS);
  };
  const stopLive = ctx.live ? ctx.live.on("*", onLive) : () => {};
  const stopReset = ctx.live ? ctx.live.on("reset", () => onLive({ type: memory.tab === "jobs" ? "job." : "task." })) : () => {};

  drawTabs();
  drawFilters();
  await load();
  return () => { stopLive(); stopReset(); clearTimeout(liveTimer); };
}
