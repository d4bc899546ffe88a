// One job: a row per agent filling in live with its outcome and the server's one-line
// summary, the job's summary, progress, start, end and duration, its actions (run again,
// edit and run, copy link, export), a sortable comparison table, a chart in the table's
// order and the tool's detail (paths, hops, replies, waterfall, DNS answers), and each
// agent's raw output (escaped text, expandable, copyable).  An agent that goes offline is
// marked on its row at once (agent.offline); when the job ends no row stays running.

import { api, ApiError } from "../api.js";
import { h, replace, message, empty, ago, copyButton, throttle } from "../dom.js";
import { columnsFor, measured, cellText, TABLE_NOTES } from "../results.js";
import { drawJobChart } from "../job_chart.js";
import { jobActions, hasQueued } from "../job_actions.js";
import { detailFor } from "../detail/index.js";
import { keepFocus } from "../keys.js";
import { formatDuration, formatTime, formatMs } from "../format.js";
import { clock, outcomeBadge, outcomeKind, outcomeRank, taskStatus, jobBadges, jobEnded } from "../outcome.js";
import { rawOutput, hasOutput, fetchWholeResult, loadingNote } from "../raw.js";
import { waitNote, wakeBy } from "../agent_wait.js";

const RANK = { queued: 0, dispatched: 1 };
const rank = (state) => RANK[state] ?? 2;
const JOB_FIELDS = ["counts", "state", "summary", "outcome", "finished_at"];

/** A job's counts as the progress bar draws them (jobs counted before outcomes: by state). */
function tally(c) {
  const byOutcome = c.ok !== undefined;
  return {
    ok: byOutcome ? c.ok || 0 : c.done || 0, partial: c.partial || 0, failed: c.failed || 0,
    noResult: byOutcome ? (c.lost || 0) + (c.delivery_timeout || 0) : (c.timed_out || 0) - (c.unfinished || 0),
    unfinished: c.unfinished || 0, canceled: c.canceled || 0, running: c.dispatched || 0,
  };
}

export async function render(page, ctx, [idText]) {
  const jobId = Number(idText);
  if (!Number.isInteger(jobId) || jobId < 1) {
    page.append(empty("No such job.", h("p", {}, "Open one from ", h("a", { href: "#/history" }, "History"), ".")));
    return null;
  }
  let job = null;
  const tasks = new Map();  // task_id -> task
  const pending = [];  // events that arrived while loading
  const expanded = new Set();  // agents whose raw output is open
  const fetching = new Map();  // task id -> "loading" | error text, for whole results
  const offline = new Map();  // agent -> {at: ms, now: still offline}, from agent.* events
  const agentInfo = new Map();  // agent -> its GET /api/agents item: why a queued task waits
  let wakeTimer = null;
  let sort = { key: "agent", dir: 1 };
  let toolInfo = null;

  const head = h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, `Job #${jobId}`));
  const notice = h("div", { class: "notice" });
  const meta = h("div", { class: "job-meta" });
  const progress = h("div", { class: "progress-wrap" });
  const tableBox = h("div", { class: "card" });
  const chartBox = h("div", { class: "card chart-card" });
  const detailBox = h("div", { class: "detail" });
  page.append(head, notice, meta, progress, tableBox, chartBox, detailBox);

  function applyTask(task) {
    const known = tasks.get(task.task_id);
    if (known && rank(task.state) < rank(known.state)) return false;  // stale (replayed) event
    tasks.set(task.task_id, { ...known, ...task, parsed: task.parsed !== undefined ? task.parsed : known && known.parsed });
    return true;
  }

  function statusOf(task) {
    return taskStatus(task, { offline: offline.get(task.agent) || null, jobEnded: jobEnded(job), jobFinishedAt: job.finished_at,
      waiting: waitNote(agentInfo.get(task.agent)) });
  }

  async function loadAgents() {
    try {
      for (const agent of (await api("/api/agents")).items) agentInfo.set(agent.name, agent);
    } catch { /* the notes only: the rows say the rest */ }
  }

  async function refreshAgent(name) {  // disabled or enabled meanwhile (no event says so)
    try {
      agentInfo.set(name, await api(`/api/agents/${encodeURIComponent(name)}`));
      redraw();
    } catch { /* the notes only */ }
  }

  function wakeLater() {  // redraw when a "just enabled" note stops being true
    clearTimeout(wakeTimer);
    const queued = [...tasks.values()].filter((t) => t.state === "queued");
    const until = Math.min(...queued.map((t) => wakeBy(agentInfo.get(t.agent)) || Infinity));
    if (until !== Infinity) wakeTimer = setTimeout(redraw, Math.max(until - Date.now(), 0) + 100);
  }

  // Events that arrive while a load is under way wait in `pending` and are applied after
  // its snapshot (applied at once, the snapshot would overwrite them: a task done while the
  // agents and tools were read stayed "running").  A newer load (reconnected) supersedes.
  let generation = 0;  // loads started
  let loaded = 0;  // the load whose snapshot is shown

  async function load() {
    const mine = ++generation;
    let fresh;
    try {
      fresh = await api(`/api/jobs/${jobId}`);
    } catch (error) {
      if (mine !== generation) return;
      loaded = mine;
      for (const box of [meta, progress, tableBox, chartBox, detailBox]) { replace(box); box.hidden = true; }
      replace(notice, error instanceof ApiError && error.status === 404
        ? empty(`Job #${jobId} does not exist.`, h("p", {}, "Find past jobs in ", h("a", { href: "#/history" }, "History"), "."))
        : message("error", `Cannot load the job: ${error.message}`));
      return;
    }
    const agentsRead = loadAgents();
    try { toolInfo = (await ctx.getTools()).find((t) => t.name === fresh.tool) || null; } catch { toolInfo = null; }
    await agentsRead;
    if (mine !== generation) return;
    job = fresh;
    loaded = mine;
    tasks.clear();
    for (const task of job.tasks || []) tasks.set(task.task_id, task);
    for (const event of pending.splice(0)) onEvent(event);
    draw();
    if (ctx.focusHeading) {  // a job just started (Run, Run again): the heading says where we are
      ctx.focusHeading = false;
      head.querySelector("h1").focus();
    }
  }

  async function openWhole(task) {
    fetching.set(task.task_id, "loading");
    try {
      const result = await fetchWholeResult(task.task_id);
      const known = tasks.get(task.task_id);
      if (known) known.result = result;
      fetching.delete(task.task_id);
    } catch (error) {
      fetching.set(task.task_id, `The whole output could not be loaded: ${error.message}`);
    }
    drawTable();
  }

  function onEvent(event) {
    if (!job || loaded !== generation) { pending.push(event); return; }
    const data = event.data || {};
    if (data.job_id !== jobId) return;
    if (event.type.startsWith("task.")) {
      // task.done carries parsed, outcome, summary and a preview of the result.
      if (applyTask({ ...data, parsed: "parsed" in data ? data.parsed : undefined })) redraw();
    } else if (event.type === "job.progress" || event.type === "job.done") {
      for (const key of JOB_FIELDS) if (data[key] !== undefined) job[key] = data[key];
      redraw();
    }
  }

  function onPresence(event) {
    const name = event.data && event.data.name;
    if (!name) return;
    if (event.type === "agent.offline") offline.set(name, { at: event.at * 1000, now: true });
    else if (offline.has(name)) offline.get(name).now = false;
    if (agentInfo.has(name)) agentInfo.get(name).online = event.type === "agent.online";
    if (job && [...tasks.values()].some((task) => task.agent === name && task.state === "queued")) refreshAgent(name);
    if (job && [...tasks.values()].some((task) => task.agent === name)) redraw();
  }

  const redraw = throttle(() => draw(), 80);

  function draw() {
    if (!job) return;
    const title = (toolInfo && toolInfo.title) || job.tool;
    const target = job.full_target || job.target || "";
    document.title = `Job #${job.job_id} · ${job.tool} ${target} · toolBox`;
    // Stop: a job with tasks running (their agents are told, or their late results kept).
    const running = job.state === "running" && !jobEnded(job) && [...tasks.values()].some((t) => t.state === "dispatched");
    const canCancel = running || (job.state === "running" && !jobEnded(job) && hasQueued(job, tasks.values()));
    const heading = head.querySelector("h1");
    replace(heading, `${title} `, h("span", { class: "target" }, target), " ", h("span", { class: "muted" }, `#${job.job_id}`));
    keepFocus(head, () => replace(head, heading,
      h("span", { class: "job-badges", "data-testid": "job-outcome" }, ...jobBadges(job)),
      jobActions(job, ctx, { canCancel, cancelLabel: running ? "Stop" : null, onCancel: cancelJob, onError: (text) => replace(notice, message("error", text)) })));
    drawMeta();
    drawProgress();
    drawTable();
    wakeLater();
  }

  function drawMeta() {
    const params = Object.entries(job.params || {}).filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => h("span", { class: "param" }, `${k}=${v}`));
    const ended = job.finished_at ? Date.parse(job.finished_at) - Date.parse(job.created_at) : null;
    replace(meta,
      h("p", { "data-testid": "job-times" }, "Started by ", h("strong", {}, job.created_by || "?"), " at ",
        h("time", { datetime: job.created_at }, formatTime(job.created_at)), " (", ago(job.created_at), ")",
        job.finished_at ? [" · finished at ", h("time", { datetime: job.finished_at }, formatTime(job.finished_at)),
          " · took ", h("strong", { "data-testid": "job-duration" }, formatDuration(ended))] : " · still running"),
      h("p", {}, ...params),
      job.offline_agents && job.offline_agents.length
        ? h("p", { class: "warn-text" }, `Offline when started: ${job.offline_agents.join(", ")}`) : null,
      job.skipped && job.skipped.length
        ? h("p", { class: "warn-text" }, `Skipped: ${job.skipped.map((s) => `${s.agent} (${s.reason})`).join("; ")}`) : null);
  }

  function drawProgress() {
    const t = tally(job.counts || {});
    const total = (job.counts || {}).requested || tasks.size || 0;
    const seg = (value, kind, label) => {
      const node = h("span", { class: `seg ${kind}`, title: `${label}: ${value}` });
      node.style.setProperty("width", `${total ? (100 * value) / total : 0}%`);
      return node;
    };
    const finished = t.ok + t.partial + t.failed + t.noResult + t.canceled;
    replace(progress,
      h("p", { class: `job-summary row-${outcomeKind(jobEnded(job) ? job.outcome || "done" : "running")}`, "data-testid": "job-summary" },
        job.summary || ""),
      h("div", { class: "progress", role: "progressbar", "aria-label": "Tasks finished", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(finished) },
        seg(t.ok, "ok", "ok"), seg(t.partial, "partial", "partial"), seg(t.failed, "failed", "failed"),
        seg(t.noResult + t.unfinished, "timeout", "no result"), seg(t.canceled, "canceled", "canceled"),
        seg(t.running, "running", "running")),
      h("p", { class: "progress-text", "data-testid": "progress-text" },
        `${finished} / ${total} finished`, jobEnded(job) ? ` · the job ended at ${clock(job.finished_at)}` : ""));
  }

  function rows() {
    const columns = columnsFor(job.tool);
    return [...tasks.values()].map((task) => {
      const parsed = task.parsed || null;
      const answer = measured(job.tool, task);
      const values = {};
      for (const col of columns) values[col.key] = parsed && (answer || col.keep) ? col.value(parsed) ?? null : null;
      return { task, parsed, answer, values, status: statusOf(task) };
    });
  }

  function sortValue(row, key) {
    if (key === "agent") return row.task.agent;
    if (key === "state") return outcomeRank(row.status.key);
    if (key === "duration") return row.task.duration_ms;  // not "time": dig has a Query time column
    const col = columnsFor(job.tool).find((c) => c.key === key);
    if (col && col.sortValue && row.parsed && (row.answer || col.keep)) return col.sortValue(row.parsed);
    return row.values[key];
  }

  function sorted(list) {
    return list.sort((a, b) => {
      const x = sortValue(a, sort.key);
      const y = sortValue(b, sort.key);
      if (x === y) return a.task.agent.localeCompare(b.task.agent);
      if (x === null || x === undefined) return 1;  // no value: always last
      if (y === null || y === undefined) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sort.dir;
    });
  }

  function header(key, title, numeric = false) {
    const active = sort.key === key;
    return h("th", { scope: "col", class: numeric ? "num" : null, "aria-sort": active ? (sort.dir > 0 ? "ascending" : "descending") : "none" },
      h("button", { type: "button", class: "sort", dataset: { key, focus: `sort-${key}` }, onclick: () => {
        sort = { key, dir: active ? -sort.dir : 1 };
        drawTable();
      } }, title, h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (sort.dir > 0 ? " ▲" : " ▼") : "")));
  }

  // Where the column headers are hidden (the stacked table of a phone), the same sorting.
  function sortBar(columns) {
    const choices = [["agent", "Agent"], ["state", "Outcome"], ...columns.map((col) => [col.key, col.title]), ["duration", "Time"]];
    const key = h("select", { id: `sort-by-${jobId}`, dataset: { focus: "sort-by" }, "data-testid": "sort-by",
      onchange: (event) => { sort = { key: event.target.value, dir: 1 }; drawTable(); } },
    ...choices.map(([value, title]) => h("option", { value, selected: value === sort.key }, title)));
    return h("div", { class: "sort-bar" }, h("label", { for: `sort-by-${jobId}` }, "Sort by"), key,
      h("button", { type: "button", class: "small ghost", dataset: { focus: "sort-dir" }, "data-testid": "sort-dir",
        "aria-label": `Sort ${sort.dir > 0 ? "descending" : "ascending"} instead`,
        onclick: () => { sort = { key: sort.key, dir: -sort.dir }; drawTable(); } }, sort.dir > 0 ? "▲ ascending" : "▼ descending"));
  }

  function cell(col, row) {
    const value = row.values[col.key];
    const td = h("td", { class: typeof value === "number" || col.unit ? "num" : "", "data-label": col.title, dataset: { col: col.key } },
      cellText(col, value));
    if (typeof value === "number") td.dataset.value = String(value);
    if (col.key === "loss" && typeof value === "number" && value > 0) td.classList.add(value >= 100 ? "bad" : "warn");
    return td;
  }

  function rawRow(task, span) {
    const { text, complete } = rawOutput(task);
    const state = fetching.get(task.task_id);
    if (!complete && !state) openWhole(task);  // the event brought a preview: fetch the rest
    const note = complete ? null
      : h("p", { class: state && state !== "loading" ? "bad-text" : "muted", "data-testid": "raw-partial" },
        state && state !== "loading" ? state : loadingNote(task));
    return h("tr", { class: "raw-row" }, h("td", { colspan: String(span) },
      h("div", { class: "raw-head" }, h("span", { class: "muted" }, `${task.agent} · ${task.command}`,
        task.exit_code !== null && task.exit_code !== undefined ? ` · exit ${task.exit_code}` : "",
        task.result_truncated ? " · truncated" : ""), copyButton(() => rawOutput(tasks.get(task.task_id) || task).text || "", "Copy output")),
      note, h("pre", { class: "raw", "data-testid": "raw-output" }, text || "")));
  }

  // --- while a task runs: toolbox-agent's output so far (task.output, GET's "partial") ---

  const live = (task) => task.state === "dispatched" && task.partial ? task.partial : null;

  function liveNote(task) {
    const partial = live(task);
    const reading = (partial && partial.reading) || {};
    let text = null;
    if (typeof reading.received === "number") {
      const count = job.params && job.params.count;
      text = `${reading.received}${count ? ` of ${count}` : ""} replies so far`;
      if (typeof reading.last_rtt_ms === "number") text += ` · last ${formatMs(reading.last_rtt_ms)}`;
    } else if (typeof reading.hops === "number") {
      text = `${reading.hops} ${reading.hops === 1 ? "hop" : "hops"} found so far`;
      if (reading.last_hop) text += ` · last ${reading.last_hop}`;
    } else if (partial) {
      text = `${partial.bytes} bytes of output so far`;
    }
    return text ? h("span", { class: "row-note live-note", "data-testid": "live-reading" }, ` · ${text}`) : null;
  }

  function liveRawRow(task, span) {
    const partial = live(task);
    return h("tr", { class: "raw-row" }, h("td", { colspan: String(span) },
      h("div", { class: "raw-head" }, h("span", { class: "muted" }, `${task.agent} · ${task.command} · running: the output so far`,
        partial.bytes > partial.output.length ? ` (its last ${partial.output.length} characters)` : "")),
      h("pre", { class: "raw", "data-testid": "raw-live", "aria-live": "off" }, partial.output)));
  }

  function drawTable() {
    if (!tasks.size) {
      replace(tableBox, empty("This job has no tasks.", h("p", {}, "None of the selected agents could run it; see Skipped above.")));
      return;
    }
    const columns = columnsFor(job.tool);
    const body = h("tbody", {});
    const ordered = sorted(rows());
    for (const row of ordered) {
      const { task, status } = row;
      const open = expanded.has(task.agent);
      const toggle = h("button", { type: "button", class: "small ghost", "aria-expanded": String(open), dataset: { focus: `raw-${task.agent}` },
        "aria-label": `${open ? "Hide" : "Show"} the raw output of ${task.agent}${live(task) ? " so far" : ""}`,
        onclick: () => { if (open) expanded.delete(task.agent); else expanded.add(task.agent); drawTable(); } }, open ? "Hide raw" : "Raw");
      body.append(h("tr", { class: `row-${outcomeKind(status.key)}`, dataset: { agent: task.agent, state: task.state, outcome: status.key } },
        h("th", { scope: "row", "data-label": "Agent", class: "agent-cell" }, task.agent),
        h("td", { "data-label": "Outcome", class: "outcome-cell" }, outcomeBadge(status.key), " ",
          h("span", { class: "row-note", "data-testid": "row-note" }, status.note), liveNote(task)),
        ...columns.map((col) => cell(col, row)),
        h("td", { class: "num", "data-label": "Time", dataset: { col: "duration" } }, formatDuration(task.duration_ms ?? null)),
        h("td", { class: "actions" }, hasOutput(task) || live(task) ? toggle : null)));
      if (open && live(task)) body.append(liveRawRow(task, columns.length + 4));
      else if (open && hasOutput(task)) body.append(rawRow(task, columns.length + 4));
    }
    const tableNote = TABLE_NOTES[job.tool];
    keepFocus(tableBox, () => replace(tableBox, h("h2", {}, "Results"), sortBar(columns),
      tableNote ? h("p", { class: "muted help-text", "data-testid": "table-note" }, tableNote) : null,
      h("div", { class: "table-scroll" }, h("table", { class: "table stack results", "data-testid": "results" },
        h("thead", {}, h("tr", {}, header("agent", "Agent"), header("state", "Outcome"),
          ...columns.map((col) => header(col.key, col.title, Boolean(col.unit))),
          header("duration", "Time", true), h("th", { scope: "col" }, h("span", { class: "sr" }, "Raw output")))),
        body))));
    drawJobChart(chartBox, job.tool, ordered);
    replace(detailBox, ...detailFor(job.tool, ordered, job, Math.max(320, tableBox.clientWidth - 40)));
  }

  async function cancelJob() {
    try {
      const reply = await api(`/api/jobs/${jobId}/cancel`, { method: "POST" });
      for (const key of JOB_FIELDS) if (reply[key] !== undefined) job[key] = reply[key];
      draw();
    } catch (error) {
      replace(notice, message("error", error.message));
    }
  }

  const off = [
    ctx.live.on("*", (event) => { if (event.type.startsWith("task.") || event.type.startsWith("job.")) onEvent(event); }),
    ctx.live.on("agent.offline", onPresence),
    ctx.live.on("agent.online", onPresence),
    ctx.live.on("reset", load),
    ctx.live.on("reconnected", load),
  ];
  const onResize = throttle(() => { if (job) drawJobChart(chartBox, job.tool, sorted(rows())); }, 100);
  window.addEventListener("resize", onResize);
  await load();
  return () => { off.forEach((f) => f()); clearTimeout(wakeTimer); window.removeEventListener("resize", onResize); };
}
