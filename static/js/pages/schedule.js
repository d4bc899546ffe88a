// One schedule (#/schedules/ID): what it runs and when, a graph over time per agent in
// the SmokePing manner (smoke_chart.js) with the presets 3 h / 30 h / 10 d / 360 d, zoom
// (drag across a chart, the buttons, or + and - on a focused chart), earlier/later, agents
// overlaid or as small multiples, and its latest rounds.  A click (or Enter) on a round
// opens its job.  It follows the live feed: a round fired or skipped (`schedule.round`)
// refreshes the rounds and the next run, and while the range ends now a round's tasks
// finishing redraw the graph (the point is written just after the task event, so the
// series is read again a moment later).  The schedule's alerts are shaded on the graph over
// the time each fired and listed under it; "Alert rules" opens the rule editor
// (#/schedules/ID/alerts); an alert of the schedule firing or resolving redraws them live.

import { api, query } from "../api.js";
import { h, replace, message, empty, ago, throttle } from "../dom.js";
import { formatTime } from "../format.js";
import { keepFocus } from "../keys.js";
import { smokeChart } from "../smoke_chart.js";
import { agentsText, everyText } from "../schedule_form.js";
import { inText } from "./schedules.js";

const HOUR = 3600 * 1000;
export const PRESETS = [["3h", "3 h", 3 * HOUR], ["30h", "30 h", 30 * HOUR], ["10d", "10 d", 240 * HOUR], ["360d", "360 d", 8640 * HOUR]];
const MIN_SPAN = 10 * 60 * 1000;
const MAX_SPAN = 800 * 24 * HOUR;
const TIERS = { raw: "each round", hour: "hourly rollups", "6h": "six-hourly rollups", day: "daily rollups" };

// Per schedule, while the console is open: the range and the layout last chosen.
const memory = new Map();

export async function render(page, ctx, args) {
  const sid = Number(args[0]);
  if (!Number.isInteger(sid) || sid < 1) {
    page.append(empty("No such schedule.", h("p", {}, h("a", { href: "#/schedules" }, "All schedules"))));
    return null;
  }
  const state = memory.get(sid) || { preset: "3h", span: 3 * HOUR, end: null, mode: "multiples" };
  memory.set(sid, state);
  const head = h("div", { class: "page-head" });
  const meta = h("p", { class: "schedule-meta" });
  const controls = h("div", { class: "smoke-controls" });
  const range = h("p", { class: "muted smoke-range", "aria-live": "polite", "data-testid": "smoke-range" });
  const charts = h("div", { class: "card smoke-card", "aria-busy": "false" });
  const rounds = h("div", { class: "card" });
  const alertNote = h("div", { class: "smoke-alerts-note", "data-testid": "alert-periods" });
  const notice = h("div", { "aria-live": "polite" });
  page.append(h("p", { class: "crumbs" }, h("a", { href: "#/schedules" }, "← Schedules")), head, meta, notice, controls, range, charts, alertNote, rounds);

  let schedule;
  try {
    schedule = await api(`/api/schedules/${sid}`);
  } catch (error) {
    replace(page, error.status === 404
      ? empty(`Schedule #${sid} does not exist (any more).`, h("p", {}, h("a", { href: "#/schedules" }, "All schedules")))
      : message("error", `This schedule could not load: ${error.message}`));
    return null;
  }
  const jobIds = new Set();
  let answer = null;
  let loading = 0;
  let alerts = [];  // the schedule's latest alerts, newest first

  const window_ = () => {
    const to = state.end ?? Date.now();
    return { from: to - state.span, to };
  };

  function drawHead() {
    document.title = `${schedule.name} · Schedules · toolBox`;
    const heading = h("h1", { tabindex: "-1" }, schedule.name, " ", h("span", { class: "muted" }, `#${schedule.schedule_id}`));
    const pause = ctx.can("operator") ? h("button", { type: "button", class: "small", "data-testid": "toggle",
      onclick: async () => {
        try {
          schedule = await api(`/api/schedules/${sid}`, { method: "PATCH", body: { enabled: !schedule.enabled } });
          drawHead();
        } catch (error) { replace(notice, message("error", error.message)); }
      } }, schedule.enabled ? "Pause" : "Resume") : null;
    const { from, to } = window_();
    const csv = h("a", { class: "button small ghost", download: `schedule-${sid}.csv`, "data-testid": "export-csv",
      href: `/api/schedules/${sid}/series${query({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), format: "csv" })}` },
    "Export CSV");
    const firing = alerts.filter((a) => a.state === "firing").length;
    const rules = h("a", { class: "button small", href: `#/schedules/${sid}/alerts`, "data-testid": "alert-rules" },
      "Alert rules", firing ? h("span", { class: "badge bad" }, `${firing} firing`) : null);
    keepFocus(head, () => replace(head, heading, schedule.enabled ? null : h("span", { class: "badge" }, "paused"), pause, rules, csv));
    replace(meta, h("span", { class: "target" }, `${schedule.tool} ${schedule.target || ""}`), " on ", agentsText(schedule), ", ",
      everyText(schedule.interval), " · next run ", schedule.enabled && schedule.next_run ? inText(schedule.next_run) : "none (paused)");
    if (ctx.focusHeading) { ctx.focusHeading = false; heading.focus(); }
  }

  function button(text, attrs, onclick) {
    return h("button", { type: "button", class: "small", onclick, ...attrs }, text);
  }

  function setWindow(from, to) {
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, to - from));
    const centre = (from + to) / 2;
    let end = centre + span / 2;
    if (end >= Date.now()) end = null;  // reaching now: follow the live rounds again
    Object.assign(state, { preset: null, span, end });
    drawControls();
    loadSeries();
  }

  function drawControls() {
    const presets = h("div", { class: "segmented", role: "group", "aria-label": "Range" },
      ...PRESETS.map(([key, text, span]) => button(text, { "aria-pressed": String(state.preset === key), dataset: { preset: key } },
        () => { Object.assign(state, { preset: key, span, end: null }); drawControls(); loadSeries(); })));
    const { from, to } = window_();
    const zoom = h("div", { class: "segmented", role: "group", "aria-label": "Zoom" },
      button("Zoom in", { dataset: { zoom: "in" } }, () => setWindow(from + (to - from) / 4, to - (to - from) / 4)),
      button("Zoom out", { dataset: { zoom: "out" } }, () => setWindow(from - (to - from) / 2, to + (to - from) / 2)),
      button("← Earlier", { dataset: { zoom: "earlier" } }, () => setWindow(from - (to - from) / 2, to - (to - from) / 2)),
      button("Later →", { dataset: { zoom: "later" }, disabled: state.end === null }, () => setWindow(from + (to - from) / 2, to + (to - from) / 2)));
    const layout = h("div", { class: "segmented", role: "group", "aria-label": "Agents" },
      ...[["multiples", "One chart each"], ["overlay", "Overlaid"]].map(([mode, text]) =>
        button(text, { "aria-pressed": String(state.mode === mode), dataset: { layout: mode } },
          () => { state.mode = mode; drawControls(); drawCharts(); })));
    keepFocus(controls, () => replace(controls, presets, zoom, layout));
  }

  function drawCharts() {
    if (!answer) return;
    const { from, to } = { from: new Date(answer.from).getTime(), to: new Date(answer.to).getTime() };
    replace(range, `${formatTime(answer.from)} to ${formatTime(answer.to)} · ${TIERS[answer.tier] || answer.tier}`,
      answer.tier === "raw" ? "" : ` of ${Math.round(answer.bucket_seconds / 3600)} h`);
    range.dataset.tier = answer.tier;
    drawAlerts(from, to);
    if (!answer.series.length) {
      replace(charts, empty("No results in this range yet.", h("p", {}, schedule.enabled
        ? `The next round runs ${inText(schedule.next_run)}; its results appear here as they come in.`
        : "The schedule is paused: resume it to measure again.")));
      return;
    }
    keepFocus(charts, () => replace(charts, smokeChart(answer, {
      from, to, mode: state.mode, width: charts.clientWidth - 36, alerts: alertPeriods(),
      onOpen: (jobId) => { ctx.jobFrom = "schedules"; ctx.navigate(`#/jobs/${jobId}`); },
      onZoom: (start, end) => setWindow(start, end),
    })));
  }

  function alertPeriods() {
    return alerts.map((a) => ({ id: String(a.alert_id), firing: a.state === "firing", from: new Date(a.started_at).getTime(),
      to: a.resolved_at ? new Date(a.resolved_at).getTime() : null }));
  }

  /** The alerts over the range shown, in words (the graph shades them). */
  function drawAlerts(from, to) {
    const shown = alerts.filter((a) => new Date(a.started_at).getTime() <= to
      && (!a.resolved_at || new Date(a.resolved_at).getTime() >= from));
    replace(alertNote, shown.length ? h("p", { class: "muted" }, "Alerts in this range: ", ...shown.flatMap((a, i) => [
      i ? "; " : "", h("a", { href: "#/alerts" }, a.rule_name || `rule ${a.rule_id}`),
      a.state === "firing" ? ` firing since ${formatTime(a.started_at)}`
        : ` fired ${formatTime(a.started_at)}, resolved ${formatTime(a.resolved_at)}`])) : null);
  }

  async function loadAlerts() {
    try {
      alerts = (await api(`/api/alerts${query({ schedule: sid, limit: 100 })}`)).items;
    } catch { /* the graph is drawn without them */ }
  }

  async function loadSeries() {
    const { from, to } = window_();
    const mine = ++loading;
    charts.setAttribute("aria-busy", "true");
    try {
      // no more points per series than the widest chart has pixels (one chart spans the room at most)
      const points = Math.max(10, Math.min(500, Math.floor(charts.clientWidth - 36) || 500));
      const next = await api(`/api/schedules/${sid}/series${query({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), points })}`);
      if (mine !== loading) return;
      answer = next;
      for (const series of answer.series) for (const p of series.points) if (p.job_id) jobIds.add(p.job_id);
      drawCharts();
      drawHead();
    } catch (error) {
      if (mine === loading) replace(charts, message("error", `The graph could not load: ${error.message}`));
    } finally {
      if (mine === loading) charts.setAttribute("aria-busy", "false");
    }
  }

  async function loadRounds() {
    let items;
    try {
      items = (await api(`/api/schedules/${sid}/rounds?limit=10`)).items;
    } catch (error) {
      replace(rounds, message("error", `Rounds could not load: ${error.message}`));
      return;
    }
    for (const round of items) if (round.job_id) jobIds.add(round.job_id);
    replace(rounds, h("h2", {}, "Latest rounds"), items.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "table stack rounds", "data-testid": "rounds" },
        h("thead", {}, h("tr", {}, ...["Round", "State", "Job", "Agents", "Note"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ...items.map((round) => h("tr", { dataset: { state: round.state } },
          h("td", { "data-label": "Round" }, ago(round.at)),
          h("td", { "data-label": "State" }, h("span", { class: `badge ${round.state === "fired" ? "ok" : "warn"}` }, round.state)),
          h("td", { "data-label": "Job" }, round.job_id ? h("a", { href: `#/jobs/${round.job_id}` }, `#${round.job_id}`) : "—"),
          h("td", { "data-label": "Agents", class: "num" }, String(round.agents)),
          h("td", { "data-label": "Note" }, [round.reason, round.missed ? `${round.missed} missed before it` : null,
            round.busy && round.busy.length ? `busy: ${round.busy.join(", ")}` : null].filter(Boolean).join(" · ")))))))
      : h("p", { class: "muted" }, "No round yet."));
  }

  // Live: a round's job starting (its id noted) or any of its tasks ending.
  let timers = [];
  const refresh = () => {
    timers.forEach(clearTimeout);
    timers = [setTimeout(() => { loadSeries(); loadRounds(); }, 300), setTimeout(loadSeries, 1500)];
  };
  const onEvent = (event) => {
    const data = event.data || {};
    if (event.type === "schedule.round" && data.schedule_id === sid) {
      loadRounds();  // fired or skipped: the rounds' table and the next run
      api(`/api/schedules/${sid}`).then((fresh) => { schedule = fresh; drawHead(); }).catch(() => {});
    } else if (event.type.startsWith("job.") && data.schedule_id === sid) {
      jobIds.add(data.job_id);
      if (state.end === null) refresh();
    } else if (event.type.startsWith("alert.") && data.schedule_id === sid) {
      loadAlerts().then(() => { drawCharts(); drawHead(); });
    } else if (event.type.startsWith("task.") && jobIds.has(data.job_id) && data.state && data.state !== "dispatched"
      && data.state !== "queued" && state.end === null) {
      refresh();
    }
  };
  drawHead();
  drawControls();
  await loadAlerts();
  await Promise.all([loadSeries(), loadRounds()]);
  const follow = setInterval(() => { if (state.end === null) loadSeries(); }, 60000);  // the window slides with now
  let drawnFor = charts.clientWidth;
  const onResize = throttle(() => { if (charts.clientWidth !== drawnFor) { drawnFor = charts.clientWidth; drawCharts(); } }, 150);
  window.addEventListener("resize", onResize);
  const off = [ctx.live.on("*", onEvent), ctx.live.on("reset", refresh), ctx.live.on("reconnected", refresh)];
  return () => {
    off.forEach((fn) => fn()); timers.forEach(clearTimeout); clearInterval(follow);
    window.removeEventListener("resize", onResize);
  };
}
