// One job: a row per agent filling in live, progress, a sortable comparison table, an
// SVG bar chart, and each agent's raw output (escaped text, expandable, copyable).

import { api, ApiError } from "../api.js";
import { h, replace, message, empty, ago, num, stateBadge, copyButton, throttle, taskOutput, wholeOutputLink } from "../dom.js";
import { columnsFor, chartFor, parsedError } from "../results.js";
import { barChart } from "../chart.js";

const RANK = { queued: 0, dispatched: 1 };
const rank = (state) => RANK[state] ?? 2;
const TERMINAL = new Set(["done", "canceled", "delivery_timeout", "lost"]);

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
  let sort = { key: "agent", dir: 1 };
  let toolInfo = null;

  const head = h("div", { class: "page-head" }, h("h1", {}, `Job #${jobId}`));
  const notice = h("div", { class: "notice" });
  const meta = h("div", { class: "job-meta" });
  const progress = h("div", { class: "progress-wrap" });
  const tableBox = h("div", { class: "card" });
  const chartBox = h("div", { class: "card chart-card" });
  page.append(head, notice, meta, progress, tableBox, chartBox);

  function applyTask(task) {
    const known = tasks.get(task.task_id);
    if (known && rank(task.state) < rank(known.state)) return false;  // stale (replayed) event
    tasks.set(task.task_id, { ...known, ...task, parsed: task.parsed !== undefined ? task.parsed : known && known.parsed });
    return true;
  }

  async function load() {
    try {
      job = await api(`/api/jobs/${jobId}`);
    } catch (error) {
      replace(meta);
      replace(notice, error instanceof ApiError && error.status === 404
        ? empty(`Job #${jobId} does not exist.`, h("p", {}, "Find past jobs in ", h("a", { href: "#/history" }, "History"), "."))
        : message("error", `Cannot load the job: ${error.message}`));
      return;
    }
    try { toolInfo = (await ctx.getTools()).find((t) => t.name === job.tool) || null; } catch { toolInfo = null; }
    tasks.clear();
    for (const task of job.tasks || []) tasks.set(task.task_id, task);
    for (const event of pending.splice(0)) onEvent(event);
    draw();
  }

  async function fetchParsed(taskId) {
    try {
      const task = await api(`/api/tasks/${taskId}`);
      if (applyTask(task)) redraw();
    } catch {
      // The raw output is already shown; the parsed view just stays empty.
    }
  }

  function onEvent(event) {
    if (!job) { pending.push(event); return; }
    const data = event.data || {};
    if (data.job_id !== jobId) return;
    if (event.type.startsWith("task.")) {
      if (applyTask({ ...data, parsed: undefined })) {
        if (data.state === "done") fetchParsed(data.task_id);
        redraw();
      }
    } else if (event.type === "job.progress" || event.type === "job.done") {
      if (data.counts) job.counts = data.counts;
      if (data.state) job.state = data.state;
      if (event.type === "job.done" && data.finished_at) job.finished_at = data.finished_at;
      redraw();
    }
  }

  const redraw = throttle(() => draw(), 80);

  function draw() {
    if (!job) return;
    document.title = `Job #${job.job_id} · ${job.tool} · toolBox`;
    const cancel = job.state === "running" && ctx.can("operator")
      ? h("button", { type: "button", class: "small danger", onclick: cancelJob }, "Cancel queued tasks") : null;
    const title = (toolInfo && toolInfo.title) || job.tool;
    replace(head, h("h1", {}, `${title} `, h("span", { class: "target" }, job.target || ""), " ",
      h("span", { class: "muted" }, `#${job.job_id}`)), stateBadge(job.state), cancel);
    const params = Object.entries(job.params || {}).filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => h("span", { class: "param" }, `${k}=${v}`));
    replace(meta,
      h("p", {}, "Started by ", h("strong", {}, job.created_by || "?"), " ", ago(job.created_at), " · ", ...params),
      job.offline_agents && job.offline_agents.length
        ? h("p", { class: "warn-text" }, `Offline when started: ${job.offline_agents.join(", ")}`) : null,
      job.skipped && job.skipped.length
        ? h("p", { class: "warn-text" }, `Skipped: ${job.skipped.map((s) => `${s.agent} (${s.reason})`).join("; ")}`) : null);
    drawProgress();
    drawTable();
    drawChart();
  }

  function drawProgress() {
    const c = job.counts || {};
    const total = c.requested || tasks.size || 0;
    const seg = (value, kind, label) => {
      const node = h("span", { class: `seg ${kind}`, title: `${label}: ${value}` });
      node.style.setProperty("width", `${total ? (100 * value) / total : 0}%`);
      return node;
    };
    const finished = (c.done || 0) + (c.timed_out || 0) + (c.canceled || 0);
    replace(progress,
      h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(finished) },
        seg(c.done || 0, "done", "done"), seg(c.timed_out || 0, "timeout", "timed out"),
        seg(c.canceled || 0, "canceled", "canceled"), seg(c.dispatched || 0, "running", "running")),
      h("p", { class: "progress-text", "data-testid": "progress-text" },
        `${c.done || 0} / ${total} done`,
        c.timed_out ? ` · ${c.timed_out} timed out` : "",
        c.canceled ? ` · ${c.canceled} canceled` : "",
        c.dispatched ? ` · ${c.dispatched} running` : "",
        c.queued ? ` · ${c.queued} waiting for their agent` : ""));
  }

  function rows() {
    const columns = columnsFor(job.tool);
    return [...tasks.values()].map((task) => {
      const parsed = task.parsed || null;
      const values = {};
      for (const col of columns) values[col.key] = parsed ? col.value(parsed) : null;
      return { task, parsed, values };
    });
  }

  function sortValue(row, key) {
    if (key === "agent") return row.task.agent;
    if (key === "state") return row.task.state;
    if (key === "time") return row.task.duration_ms;
    const col = columnsFor(job.tool).find((c) => c.key === key);
    if (col && col.sortValue && row.parsed) return col.sortValue(row.parsed);
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
    return h("th", { class: numeric ? "num" : null, "aria-sort": active ? (sort.dir > 0 ? "ascending" : "descending") : "none" },
      h("button", { type: "button", class: "sort", dataset: { key }, onclick: () => {
        sort = { key, dir: active ? -sort.dir : 1 };
        drawTable();
      } }, title, h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (sort.dir > 0 ? " ▲" : " ▼") : "")));
  }

  function cell(col, row) {
    const value = row.values[col.key];
    const text = typeof value === "number" ? num(value, "", col.unit === "ms" ? 2 : 1) : value ?? "—";
    const td = h("td", { class: typeof value === "number" || col.unit ? "num" : "", "data-label": col.unit ? `${col.title} (${col.unit})` : col.title, dataset: { col: col.key } }, text);
    if (col.key === "loss" && typeof value === "number" && value > 0) td.classList.add(value >= 100 ? "bad" : "warn");
    return td;
  }

  function drawTable() {
    if (!tasks.size) {
      replace(tableBox, empty("This job has no tasks.", h("p", {}, "None of the selected agents could run it; see Skipped above.")));
      return;
    }
    const columns = columnsFor(job.tool);
    const body = h("tbody", {});
    for (const row of sorted(rows())) {
      const { task, parsed } = row;
      const open = expanded.has(task.agent);
      const problem = parsedError(parsed);
      const stateCell = h("td", { "data-label": "State" }, stateBadge(task.state));
      const output = taskOutput(task);
      if (problem) stateCell.append(" ", h("span", { class: "bad-text" }, problem));
      else if (task.state === "done" && !parsed && output.text) stateCell.append(" ", h("span", { class: "muted" }, "(not parsed: see raw)"));
      const toggle = h("button", { type: "button", class: "small ghost", "aria-expanded": String(open),
        onclick: () => { if (open) expanded.delete(task.agent); else expanded.add(task.agent); drawTable(); } }, open ? "Hide raw" : "Raw");
      body.append(h("tr", { dataset: { agent: task.agent, state: task.state } },
        h("td", { "data-label": "Agent" }, h("strong", {}, task.agent)),
        stateCell,
        ...columns.map((col) => cell(col, row)),
        h("td", { class: "num", "data-label": "Time" }, task.duration_ms !== null && task.duration_ms !== undefined ? `${(task.duration_ms / 1000).toFixed(1)} s` : "—"),
        h("td", { class: "actions" }, output.text !== null ? toggle : null)));
      if (open) {
        const raw = output.text || "";
        body.append(h("tr", { class: "raw-row" }, h("td", { colspan: String(columns.length + 4) },
          h("div", { class: "raw-head" }, h("span", { class: "muted" }, `${task.agent} · ${task.command}`,
            task.exit_code !== null && task.exit_code !== undefined ? ` · exit ${task.exit_code}` : "",
            task.result_truncated ? " · truncated" : "", output.partial ? " · first part: " : "",
            output.partial ? wholeOutputLink(task) : ""), copyButton(() => raw, "Copy output")),
          h("pre", { class: "raw", "data-testid": "raw-output" }, raw))));
      }
    }
    replace(tableBox, h("h2", {}, "Results"),
      h("div", { class: "table-scroll" }, h("table", { class: "table stack results", "data-testid": "results" },
        h("thead", {}, h("tr", {}, header("agent", "Agent"), header("state", "State"),
          ...columns.map((col) => header(col.key, col.unit ? `${col.title} (${col.unit})` : col.title, Boolean(col.unit))),
          header("time", "Time", true), h("th", {}, ""))),
        body)));
  }

  function drawChart() {
    const spec = chartFor(job.tool);
    if (!spec) { replace(chartBox); chartBox.hidden = true; return; }
    const data = sorted(rows()).filter((r) => TERMINAL.has(r.task.state));
    chartBox.hidden = false;
    if (!data.length) {
      replace(chartBox, h("h2", {}, spec.title), h("p", { class: "muted" }, "The chart fills in as results arrive."));
      return;
    }
    const bars = data.map((r) => ({
      label: r.task.agent,
      value: r.parsed ? spec.value(r.parsed) ?? null : null,
      low: r.parsed && spec.low ? spec.low(r.parsed) : null,
      high: r.parsed && spec.high ? spec.high(r.parsed) : null,
    }));
    if (!bars.some((bar) => typeof bar.value === "number")) {
      replace(chartBox, h("h2", {}, spec.title), h("p", { class: "muted" }, "No numbers to chart yet: the raw output of each agent is in the table above."));
      return;
    }
    const width = Math.max(300, Math.round(chartBox.clientWidth - 36)) || 640;
    replace(chartBox, h("h2", {}, spec.title), barChart(bars, { width }));
  }

  async function cancelJob() {
    try {
      const reply = await api(`/api/jobs/${jobId}/cancel`, { method: "POST" });
      job.state = reply.state;
      if (reply.counts) job.counts = reply.counts;
      draw();
    } catch (error) {
      replace(notice, message("error", error.message));
    }
  }

  const off = [
    ctx.live.on("*", (event) => { if (event.type.startsWith("task.") || event.type.startsWith("job.")) onEvent(event); }),
    ctx.live.on("reset", load),
    ctx.live.on("reconnected", load),
  ];
  const onResize = throttle(() => { if (job) drawChart(); }, 100);
  window.addEventListener("resize", onResize);
  await load();
  return () => { off.forEach((f) => f()); window.removeEventListener("resize", onResize); };
}

