// An alert rule as the rule editor holds it: the form's values → the API's body, checked
// with the server's rules (toolbox/alerts/rules.py `rule_fields`, the same bounds and the
// same words), a rule in words, and which field a server's 400 message is about.  The
// server stays the judge: what it refuses is shown next to the field it names.

export const METRICS = [["loss_pct", "loss (%)"], ["rtt_avg_ms", "ping's average RTT (ms)"],
  ["value_ms", "the tool's main time (ms)"], ["http_status", "HTTP status"]];
export const OPS = [">=", ">", "<=", "<"];
export const HTTP_CLASSES = ["2xx", "3xx", "4xx", "5xx"];
export const CHANGES = [["route", "the route (traceroute, MTR)"], ["dns", "the DNS answers (dig)"],
  ["http", "the HTTP status (curl)"]];
// What an agent's point of a round is checked for: [kind, words].
export const CONDITIONS = [["failed", "its task failed"], ["not_ok", "anything but ok"],
  ["metric", "a number crosses a threshold"], ["http_class", "an HTTP status in a class"],
  ["changed", "a change from its previous round"], ["tcp", "the TCP port refused"],
  ["dns_expected", "DNS answers not the expected ones"]];
export const MAX_ROUNDS = 100;
export const MAX_AGENTS = 10000;
export const MAX_CHANNELS = 20;
export const MAX_REMIND_MINUTES = 7 * 24 * 60;
export const MAX_EXPECTED = 32;
export const MAX_ANSWER_CHARS = 255;

/** The form's values for `rule` (null: a new rule, the API's defaults). */
export function formValues(rule) {
  const r = rule || {};
  const when = r.when || { outcome: "failed" };
  const kind = when.metric ? "metric" : when.outcome || (when.http_class ? "http_class" : when.changed ? "changed"
    : when.tcp ? "tcp" : when.dns_expected ? "dns_expected" : "failed");
  return {
    name: r.name || "", kind, metric: when.metric || "loss_pct", op: when.op || ">=",
    value: when.value !== undefined ? String(when.value) : "", http_class: when.http_class || "5xx",
    changed: when.changed || "route", dns_expected: (when.dns_expected || []).join(", "), who: r.min_pct ? "pct" : "agents", min_agents: String(r.min_agents ?? 1),
    min_pct: r.min_pct ? String(r.min_pct) : "50", rounds: String(r.rounds ?? 1), of_rounds: String(r.of_rounds ?? r.rounds ?? 1),
    clear_after: String(r.clear_after ?? 1), remind_every: String(r.remind_every ?? 0),
    channels: (r.channels || []).map(Number), enabled: r.enabled !== false,
  };
}

function whole(text, low, high) {
  const value = String(text).trim();
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < low || Number(value) > high) {
    return [null, `a whole number from ${low} to ${high}`];
  }
  return [Number(value), null];
}

function number(text) {
  const value = String(text).trim();
  const n = value === "" ? NaN : Number(value);
  return Number.isFinite(n) && Math.abs(n) <= 1e9 ? n : null;
}

/** The API's body for `values` and the errors by field ({} when none), as the server says them. */
export function checkRule(values) {
  const errors = {};
  const body = {};
  const name = values.name.trim();
  if (name.length > 100) errors.name = "1-100 characters";
  body.name = name || null;
  if (values.kind === "metric") {
    const value = number(values.value);
    if (value === null) errors.value = "a number";
    body.when = { metric: values.metric, op: values.op, value };
  } else if (values.kind === "failed" || values.kind === "not_ok") body.when = { outcome: values.kind };
  else if (values.kind === "http_class") body.when = { http_class: values.http_class };
  else if (values.kind === "changed") body.when = { changed: values.changed };
  else if (values.kind === "dns_expected") {
    // one answer per comma, space or line, as typed; the server trims and lowers them
    const answers = String(values.dns_expected).split(/[\s,]+/).filter(Boolean);
    if (!answers.length || answers.length > MAX_EXPECTED || answers.some((a) => a.length > MAX_ANSWER_CHARS)) {
      errors.dns_expected = `a list of 1 to ${MAX_EXPECTED} answers (addresses or names)`;
    }
    body.when = { dns_expected: answers };
  } else body.when = { tcp: "refused" };
  if (values.who === "pct") {
    const pct = number(values.min_pct);
    if (pct === null || !(pct > 0 && pct <= 100)) errors.min_pct = "a percentage above 0, at most 100";
    body.min_pct = pct;
  } else {
    [body.min_agents, errors.min_agents] = whole(values.min_agents, 1, MAX_AGENTS);
    body.min_pct = null;
  }
  for (const [key, low, high] of [["rounds", 1, MAX_ROUNDS], ["of_rounds", 1, MAX_ROUNDS], ["clear_after", 1, MAX_ROUNDS],
    ["remind_every", 0, MAX_REMIND_MINUTES]]) {
    [body[key], errors[key]] = whole(values[key], low, high);
  }
  if (!errors.rounds && !errors.of_rounds && body.rounds > body.of_rounds) errors.rounds = "at most of_rounds (K of the last M rounds)";
  if (values.channels.length > MAX_CHANNELS) errors.channels = `a list of at most ${MAX_CHANNELS} channel ids`;
  body.channels = [...values.channels];
  body.enabled = Boolean(values.enabled);
  for (const key of Object.keys(errors)) if (!errors[key]) delete errors[key];
  return { body, errors };
}

// The server's field names (its message starts with one) → the form's.
const SERVER_FIELDS = { "when.value": "value", "when.dns_expected": "dns_expected", "when.metric": "metric", "when.op": "op", when: "kind", name: "name",
  min_agents: "min_agents", min_pct: "min_pct", rounds: "rounds", of_rounds: "of_rounds", clear_after: "clear_after",
  remind_every: "remind_every", channels: "channels" };

/** [form field, the rest of the message] for a server message "field: …", or [null, message]. */
export function serverField(text) {
  const match = /^([a-z_.]+): (.*)$/s.exec(text || "");
  if (match && SERVER_FIELDS[match[1]]) return [SERVER_FIELDS[match[1]], match[2]];
  return [null, text];
}

/** "loss ≥ 20 %", "its task failed" … : a rule's condition in words. */
export function whenText(when) {
  if (!when) return "—";
  if (when.metric) {
    const unit = { loss_pct: " %", rtt_avg_ms: " ms", value_ms: " ms" }[when.metric] || "";
    const label = { loss_pct: "loss", rtt_avg_ms: "ping avg RTT", value_ms: "main time", http_status: "HTTP status" }[when.metric];
    return `${label} ${when.op.replace(">=", "≥").replace("<=", "≤")} ${when.value}${unit}`;
  }
  if (when.outcome) return when.outcome === "failed" ? "task failed" : "not ok";
  if (when.http_class) return `HTTP ${when.http_class}`;
  if (when.changed) return `${when.changed} changed`;
  if (when.dns_expected) {
    const shown = when.dns_expected.slice(0, 3).join(", ") + (when.dns_expected.length > 3 ? ", …" : "");
    return `DNS answers not in {${shown}}`;
  }
  return "TCP refused";
}

/** "at least 2 agents, 2 of 3 rounds" / "at least 50 % of agents, 1 round in a row". */
export function firingText(rule) {
  const who = rule.min_pct ? `at least ${rule.min_pct} % of agents`
    : `at least ${rule.min_agents} agent${rule.min_agents === 1 ? "" : "s"}`;
  const rounds = rule.rounds === rule.of_rounds ? `${rule.rounds} round${rule.rounds === 1 ? "" : "s"} in a row`
    : `${rule.rounds} of ${rule.of_rounds} rounds`;
  return `${who}, ${rounds}`;
}

/** A preview's answer in a sentence: "… the last 24 hours (96 rounds) would have fired twice …". */
export function previewText(answer) {
  const times = (n) => (n === 0 ? "never" : n === 1 ? "once" : n === 2 ? "twice" : `${n} times`);
  const span = `the last ${answer.hours} hour${answer.hours === 1 ? "" : "s"}`;
  if (!answer.rounds) return `No stored round in ${span}: nothing to replay.`;
  const fired = answer.fired ? `would have fired ${times(answer.fired)} and cleared ${times(answer.cleared)}`
    : "would not have fired";
  return `With these settings ${span} (${answer.rounds} round${answer.rounds === 1 ? "" : "s"}) ${fired}`
    + `${answer.firing_now ? ", and would be firing now" : ""}.`;
}
