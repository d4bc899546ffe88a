// Alerts: what fires now (with acknowledge and a one-hour silence for operators) and the
// recent history, each alert naming its rule, schedule, agents and what each saw, and
// linking to the round's job and the schedule.  Redrawn when an alert fires or resolves.

import { api } from "../api.js";
import { h, replace, message, empty, ago, badge } from "../dom.js";

function seenText(seen) {
  const parts = [seen.outcome || "?"];
  if (typeof seen.loss_pct === "number") parts.push(`loss ${seen.loss_pct} %`);
  if (typeof seen.value_ms === "number") parts.push(`${seen.value_ms} ms`);
  if (seen.status !== null && seen.status !== undefined) parts.push(`status ${seen.status}`);
  if (Array.isArray(seen.answers)) {  // a dig point's final answers (a DNS rule's alert)
    parts.push(seen.answers.length ? `answers ${seen.answers.slice(0, 4).join(", ")}${seen.answers.length > 4 ? " …" : ""}`
      : "no answer");
  }
  if (seen.reason) parts.push(seen.reason);
  return parts.join(", ");
}

function alertRow(alert, ctx, reload) {
  const actions = h("div", { class: "actions" });
  if (alert.state === "firing" && ctx.can("operator")) {
    if (!alert.acknowledged_by) {
      actions.append(h("button", { type: "button", class: "small", onclick: async () => {
        await act(`/api/alerts/${alert.alert_id}/ack`, undefined, actions); reload();
      } }, "Acknowledge"));
    }
    const until = new Date(Date.now() + 3600 * 1000).toISOString();
    actions.append(h("button", { type: "button", class: "small ghost", onclick: async () => {
      await act(`/api/alerts/${alert.alert_id}/silence`, { until }, actions); reload();
    } }, "Silence 1 h"));
  }
  const state = alert.state === "firing" ? badge("firing", "bad") : badge("resolved", "ok");
  return h("li", { class: "alert-item", dataset: { alert: String(alert.alert_id) } },
    h("div", {}, state, " ", h("strong", {}, alert.rule_name || `rule ${alert.rule_id}`), " on ",
      h("a", { href: `#/schedules/${alert.schedule_id}` }, alert.schedule_name || `schedule ${alert.schedule_id}`),
      alert.target ? ` (${alert.target})` : ""),
    h("div", { class: "muted" }, `since ${ago(alert.started_at)}`,
      alert.resolved_at ? `, resolved ${ago(alert.resolved_at)}` : "",
      alert.acknowledged_by ? `, acknowledged by ${alert.acknowledged_by}` : "",
      alert.silenced_until ? `, silenced until ${alert.silenced_until}` : "",
      alert.job_id ? h("span", {}, " · ", h("a", { href: `#/jobs/${alert.job_id}` }, "the round's job")) : ""),
    h("ul", { class: "agents-seen" }, ...alert.agents.map((seen) => h("li", {}, `${seen.agent}: ${seenText(seen)}`))),
    actions);
}

async function act(path, body, where) {
  try {
    await api(path, { method: "POST", body });
  } catch (error) {
    where.append(message("error", error.message));
  }
}

export async function render(page, ctx) {
  const firing = h("div", { class: "card", id: "alerts-firing" });
  const history = h("div", { class: "card", id: "alerts-history" });
  page.append(h("div", { class: "page-head" }, h("h1", {}, "Alerts")),
    h("h2", {}, "Firing now"), firing, h("h2", {}, "Recent"), history);

  async function load() {
    try {
      const [now, recent] = await Promise.all([api("/api/alerts?state=firing&limit=100"),
        api("/api/alerts?state=resolved&limit=25")]);
      replace(firing, now.items.length ? h("ul", { class: "alert-list" }, ...now.items.map((a) => alertRow(a, ctx, load)))
        : empty("Nothing is firing."));
      replace(history, recent.items.length ? h("ul", { class: "alert-list" }, ...recent.items.map((a) => alertRow(a, ctx, load)))
        : empty("No alert has resolved yet."));
    } catch (error) {
      replace(firing, message("error", `Alerts could not load: ${error.message}`));
    }
  }
  // listening before the first read, so that an alert firing meanwhile is not missed
  const offs = ["alert.fired", "alert.resolved"].map((type) => ctx.live.on(type, () => load()));
  await load();
  return () => offs.forEach((off) => off());
}
