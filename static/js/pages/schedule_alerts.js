// A schedule's alert rules (#/schedules/ID/alerts), reached from the schedule's page: each
// rule (its condition, when it fires and clears, its channels, firing or ok) and, for the
// schedule's owner or an admin, New rule, Edit and Delete (asked first, in a dialog).  The
// form is checked as you type with the server's rules (rule_form.js); what the server
// refuses is said next to the field it names.  Preview replays the rule as the form has it
// over the schedule's stored points (POST …/alerts/preview?hours=) before it is saved: how
// often it would have fired and cleared, and when, in words and on a time strip.  The list
// follows the live feed (an alert of the schedule firing or resolving).

import { api } from "../api.js";
import { h, svg, replace, message, empty, badge } from "../dom.js";
import { formatTime } from "../format.js";
import { keepFocus } from "../keys.js";
import { CHANGES, CONDITIONS, HTTP_CLASSES, METRICS, OPS, checkRule, firingText, formValues, previewText,
  serverField, whenText } from "../rule_form.js";

const PREVIEW_HOURS = [[3, "3 h"], [24, "24 h"], [72, "3 days"], [168, "7 days"]];
const PERIODS_LISTED = 20;
const SILENCES = [["", "no"], ["1", "for 1 h"], ["8", "for 8 h"], ["24", "for 24 h"], ["168", "for 7 days"]];

function silenced(rule) {
  return Boolean(rule && rule.silenced_until && new Date(rule.silenced_until).getTime() > Date.now());
}

function mayChange(ctx, schedule) {
  return ctx.can("admin") || (ctx.can("operator") && schedule.owner_id === ctx.me.id);
}

function select(name, options, current, attrs = {}) {
  return h("select", { name, ...attrs }, ...options.map((o) => {
    const [value, text] = Array.isArray(o) ? o : [o, o];
    return h("option", { value, selected: value === current }, text);
  }));
}

/** The preview's answer: a sentence, a strip of the hours with the firing periods, and a list of them. */
function previewView(answer) {
  const end = Date.now();
  const start = end - answer.hours * 3600 * 1000;
  const W = 600;
  const x = (t) => Math.max(0, Math.min(W, ((t - start) / (end - start)) * W));
  const strip = svg("svg", { class: "preview-strip", viewBox: `0 0 ${W} 14`, preserveAspectRatio: "none", "aria-hidden": "true" },
    svg("rect", { x: 0, y: 0, width: W, height: 14, class: "preview-track" }),
    ...answer.periods.map((p) => {
      const from = x(new Date(p.from).getTime());
      const to = x(p.to ? new Date(p.to).getTime() : end);
      return svg("rect", { x: from, y: 0, width: Math.max(2, to - from), height: 14, class: "preview-firing" });
    }));
  const listed = answer.periods.slice(-PERIODS_LISTED);
  return h("div", { class: "rule-preview", "data-testid": "preview-result" },
    h("p", { class: "preview-text" }, previewText(answer)),
    answer.rounds ? strip : null,
    answer.rounds ? h("p", { class: "preview-axis muted", "aria-hidden": "true" },
      h("span", {}, formatTime(new Date(start).toISOString())), h("span", {}, "now")) : null,
    listed.length ? h("ul", { class: "preview-periods" }, ...listed.map((p) => h("li", {},
      `fired ${formatTime(p.from)}`, p.to ? `, cleared ${formatTime(p.to)}` : ", still firing at the end"))) : null,
    answer.periods.length > listed.length ? h("p", { class: "muted" }, `(the last ${PERIODS_LISTED} of ${answer.periods.length})`) : null);
}

/** The create/edit form (`rule` null: a new one). */
function ruleForm(sid, rule, channels, { onSubmit, onCancel }) {
  const values = formValues(rule);
  const controls = {};
  const errorNodes = {};
  const touched = new Set();
  let shownAll = false;
  const field = (key, label, control, help = null) => {
    const error = h("span", { class: "field-error", id: `rule-err-${key}` });
    control.setAttribute("aria-describedby", help ? `rule-err-${key} rule-help-${key}` : `rule-err-${key}`);
    controls[key] = control;
    errorNodes[key] = error;
    return h("label", { class: "field", dataset: { field: key } }, h("span", { class: "field-name" }, label), control,
      help ? h("span", { class: "field-help muted", id: `rule-help-${key}` }, help) : null, error);
  };
  const input = (name, attrs = {}) => h("input", { name, value: values[name], autocomplete: "off", ...attrs });
  const kind = select("kind", CONDITIONS, values.kind);
  const metric = field("metric", "Number", select("metric", METRICS, values.metric));
  const op = field("op", "Is", select("op", OPS.map((o) => [o, o.replace(">=", "≥ (at least)").replace("<=", "≤ (at most)")
    .replace(/^>$/, "> (above)").replace(/^<$/, "< (below)")]), values.op));
  const value = field("value", "Threshold", input("value", { inputmode: "decimal" }), "e.g. 20 (%), 200 (ms), 500 (status)");
  const httpClass = field("http_class", "Status class", select("http_class", HTTP_CLASSES, values.http_class));
  const changed = field("changed", "What changed", select("changed", CHANGES, values.changed));
  const expected = field("dns_expected", "Expected answers", input("dns_expected", { placeholder: "192.0.2.10, 192.0.2.11" }),
    "dig's answers, separated by commas or spaces; an answer outside them, or none, matches");
  const who = select("who", [["agents", "at least N agents"], ["pct", "at least P % of the round's agents"]], values.who);
  const minAgents = field("min_agents", "N agents", input("min_agents", { inputmode: "numeric" }));
  const minPct = field("min_pct", "P %", input("min_pct", { inputmode: "decimal" }));
  const channelBoxes = channels.map((c) => h("label", { class: "agent-check" },
    h("input", { type: "checkbox", name: "channel", value: String(c.channel_id), checked: values.channels.includes(c.channel_id) }),
    `${c.name} (${c.type})`));
  const channelError = h("span", { class: "field-error", id: "rule-err-channels" });
  errorNodes.channels = channelError;
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: values.enabled });
  // an existing rule's silence (PATCH silenced_until): kept, lifted, or set from now
  const silence = rule ? select("silence", silenced(rule)
    ? [["keep", `until ${formatTime(rule.silenced_until)}`], ...SILENCES.map(([v, t]) => [v, v ? t : "no (lift it)"])] : SILENCES,
  silenced(rule) ? "keep" : "") : null;
  const hours = select("hours", PREVIEW_HOURS.map(([n, t]) => [String(n), t]), "24", { "aria-label": "Preview over the last" });
  const previewButton = h("button", { type: "button", class: "small", "data-testid": "preview" }, "Preview");
  const previewSlot = h("div", { "aria-live": "polite", "data-testid": "preview-slot" });
  const note = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, rule ? "Save rule" : "Create rule");
  const title = rule ? `Edit the rule “${rule.name || whenText(rule.when)}”` : "New alert rule";
  const form = h("form", { class: "card rule-form", "aria-label": title, novalidate: true },
    h("h2", {}, title),
    h("fieldset", {}, h("legend", {}, "An agent's round matches when"),
      h("div", { class: "fields" }, field("name", "Name (optional)", input("name", { maxlength: "100", placeholder: "port refused" })),
        field("kind", "Condition", kind), metric, op, value, httpClass, changed, expected)),
    h("fieldset", {}, h("legend", {}, "The rule fires when"),
      h("div", { class: "fields" }, field("who", "Matching", who), minAgents, minPct,
        field("rounds", "K: in at least K rounds", input("rounds", { inputmode: "numeric" }), "1 to 100"),
        field("of_rounds", "M: of the last M rounds", input("of_rounds", { inputmode: "numeric" }), "K to 100"),
        field("clear_after", "Clears after C clean rounds", input("clear_after", { inputmode: "numeric" }), "in a row; 1 to 100"))),
    h("fieldset", {}, h("legend", {}, "Notify"),
      channels.length
        ? h("div", { class: "agent-checks", role: "group", "aria-label": "Channels", "aria-describedby": "rule-err-channels" }, ...channelBoxes)
        : h("p", { class: "muted" }, "No channel yet: alerts are listed on the Alerts page only. Admins add channels on the Channels page."),
      channelError,
      h("div", { class: "fields" }, field("remind_every", "Remind every (minutes)", input("remind_every", { inputmode: "numeric" }),
        "while it fires, unacknowledged; 0: never"),
      silence ? h("label", { class: "field" }, h("span", { class: "field-name" }, "Silence its notifications"), silence,
        h("span", { class: "field-help muted" }, "no message on fire, reminder or clear until then")) : null,
      h("label", { class: "agent-check" }, enabled, "Enabled"))),
    h("div", { class: "preview-row" }, h("span", { class: "field-name" }, "Preview over the last"), hours, previewButton),
    previewSlot, note,
    h("div", { class: "form-actions" }, submit, h("button", { type: "button", class: "ghost", onclick: onCancel }, "Cancel")));

  function read() {
    for (const key of Object.keys(values)) {
      if (controls[key] && key !== "enabled") values[key] = controls[key].value;
    }
    values.channels = channelBoxes.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => Number(b.value));
    values.enabled = enabled.checked;
    return checkRule(values);
  }

  function show(errors) {
    metric.hidden = op.hidden = value.hidden = values.kind !== "metric";
    httpClass.hidden = values.kind !== "http_class";
    changed.hidden = values.kind !== "changed";
    expected.hidden = values.kind !== "dns_expected";
    minAgents.hidden = values.who !== "agents";
    minPct.hidden = values.who !== "pct";
    for (const [key, node] of Object.entries(errorNodes)) {
      const text = (shownAll || touched.has(key)) && errors[key] ? errors[key] : "";
      node.textContent = text;
      const control = controls[key];
      if (control) {
        control.classList.toggle("invalid", Boolean(text));
        control.setAttribute("aria-invalid", String(Boolean(text)));
      }
    }
  }

  const update = () => { const checked = read(); show(checked.errors); return checked; };
  form.addEventListener("input", (event) => { if (event.target.name) touched.add(event.target.name); update(); });
  form.addEventListener("change", update);
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") onCancel(); });

  /** Checked: the body, or null (every error shown, focus on the first). */
  function checked() {
    shownAll = true;
    const { body, errors } = update();
    const first = Object.keys(errors)[0];
    if (!first) return body;
    (controls[first] || channelBoxes[0]?.querySelector("input") || submit).focus();
    replace(note, message("error", "Check the fields marked above."));
    return null;
  }

  /** A server's refusal: next to its field when it names one, else under the form. */
  function refused(error) {
    const [key, text] = serverField(error.message);
    if (key && errorNodes[key]) {
      errorNodes[key].textContent = text;
      if (controls[key]) { controls[key].classList.add("invalid"); controls[key].setAttribute("aria-invalid", "true"); controls[key].focus(); }
      replace(note, message("error", `Not saved: ${error.message}`));
    } else {
      replace(note, message("error", error.message));
    }
  }

  previewButton.addEventListener("click", async () => {
    const body = checked();
    if (!body) return;
    replace(note);
    previewButton.disabled = true;
    replace(previewSlot, h("p", { class: "muted" }, "Replaying the stored rounds…"));
    try {
      const answer = await api(`/api/schedules/${sid}/alerts/preview?hours=${hours.value}`, { method: "POST", body });
      replace(previewSlot, previewView(answer));
    } catch (error) {
      replace(previewSlot);
      refused(error);
    } finally {
      previewButton.disabled = false;
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = checked();
    if (!body) return;
    replace(note);
    submit.disabled = true;
    if (silence && silence.value !== "keep") {
      body.silenced_until = silence.value ? new Date(Date.now() + Number(silence.value) * 3600 * 1000).toISOString() : null;
    }
    try {
      await onSubmit(body);
    } catch (error) {
      refused(error);
      submit.disabled = false;
    }
  });
  update();
  return form;
}

export async function render(page, ctx, args) {
  const sid = Number(args[0]);
  const back = h("a", { href: `#/schedules/${sid}` }, "← The schedule");
  const head = h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Alert rules"));
  const about = h("p", { class: "schedule-meta" });
  const notice = h("div", { "aria-live": "polite" });
  const formSlot = h("div");
  const list = h("div", { class: "card", id: "rule-list" });
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" });
  page.append(h("p", { class: "crumbs" }, back), head, about, notice, formSlot, list, dialog);
  let schedule;
  let channels = [];
  try {
    [schedule, channels] = await Promise.all([api(`/api/schedules/${sid}`),
      api("/api/channels").then((a) => a.items).catch(() => [])]);
  } catch (error) {
    replace(page, error.status === 404
      ? empty(`Schedule #${sid} does not exist (any more).`, h("p", {}, h("a", { href: "#/schedules" }, "All schedules")))
      : message("error", `The alert rules could not load: ${error.message}`));
    return null;
  }
  document.title = `Alert rules · ${schedule.name} · toolBox`;
  back.textContent = `← ${schedule.name}`;
  replace(about, "Alert rules of ", h("strong", {}, schedule.name), " ", h("span", { class: "target" }, `${schedule.tool} ${schedule.target || ""}`),
    ". A rule judges the rounds after it was made; firing and resolved alerts are on the ", h("a", { href: "#/alerts" }, "Alerts page"), ".");
  const changeable = mayChange(ctx, schedule);
  const channelName = new Map(channels.map((c) => [c.channel_id, c.name]));
  let rules = [];

  if (changeable) {
    head.append(h("button", { type: "button", class: "primary", "data-testid": "new-rule",
      onclick: (event) => openForm(null, event.currentTarget) }, "New rule"));
  }

  function openForm(rule, from) {
    const close = () => { replace(formSlot); if (from && from.isConnected) from.focus(); };
    const form = ruleForm(sid, rule, channels, {
      onCancel: close,
      onSubmit: async (body) => {
        const saved = rule
          ? await api(`/api/schedules/${sid}/alerts/${rule.rule_id}`, { method: "PATCH", body })
          : await api(`/api/schedules/${sid}/alerts`, { method: "POST", body });
        replace(formSlot);
        replace(notice, message("ok", `${rule ? "Saved" : "Created"} the rule “${saved.name || whenText(saved.when)}”.`));
        await load();
        const again = list.querySelector(`tr[data-rule="${saved.rule_id}"] [data-testid=edit]`);
        (again || head.querySelector("h1")).focus();
      },
    });
    replace(formSlot, form);
    form.querySelector("input, select").focus();
  }

  function confirmDelete(rule, from) {
    const label = rule.name || whenText(rule.when);
    const yes = h("button", { type: "button", class: "danger", "data-testid": "confirm-delete" }, "Delete");
    const no = h("button", { type: "button", class: "ghost" }, "Keep it");
    replace(dialog, h("h2", { id: "confirm-title" }, `Delete the rule “${label}”?`),
      h("p", {}, "It stops watching the rounds at once; its alerts stay in the Alerts page's history."),
      h("div", { class: "form-actions" }, yes, no));
    no.addEventListener("click", () => { dialog.close(); if (from.isConnected) from.focus(); });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await api(`/api/schedules/${sid}/alerts/${rule.rule_id}`, { method: "DELETE" });
        dialog.close();
        replace(notice, message("ok", `Deleted the rule “${label}”.`));
        await load();
        (list.querySelector("button") || head.querySelector("button, h1")).focus();
      } catch (error) {
        dialog.close();
        replace(notice, message("error", `Could not delete the rule “${label}”: ${error.message}`));
      }
    });
    dialog.showModal();
    no.focus();
  }

  function state(rule) {
    const quiet = silenced(rule) ? h("div", { class: "muted small-text" }, `silenced until ${formatTime(rule.silenced_until)}`) : null;
    if (rule.firing) return [h("a", { href: "#/alerts", class: "badge bad" }, "firing"), quiet];
    return [rule.enabled ? badge("ok", "ok") : badge("off"), quiet];
  }

  function row(rule) {
    const label = rule.name || whenText(rule.when);
    const actions = changeable ? [
      h("button", { type: "button", class: "small", "aria-label": `Edit ${label}`, dataset: { testid: "edit" },
        onclick: (event) => openForm(rule, event.currentTarget) }, "Edit"),
      h("button", { type: "button", class: "small danger", "aria-label": `Delete ${label}`, dataset: { testid: "delete" },
        onclick: (event) => confirmDelete(rule, event.currentTarget) }, "Delete"),
    ] : [];
    return h("tr", { dataset: { rule: String(rule.rule_id), firing: String(rule.firing) } },
      h("td", { "data-label": "Rule" }, h("strong", {}, label)),
      h("td", { "data-label": "Condition" }, whenText(rule.when)),
      h("td", { "data-label": "Fires on" }, firingText(rule)),
      h("td", { "data-label": "Clears after" }, `${rule.clear_after} clean round${rule.clear_after === 1 ? "" : "s"}`),
      h("td", { "data-label": "Channels" }, rule.channels.length
        ? rule.channels.map((id) => channelName.get(id) || `#${id}`).join(", ") : h("span", { class: "muted" }, "none"),
      rule.remind_every ? h("div", { class: "muted small-text" }, `reminds every ${rule.remind_every} min`) : null),
      h("td", { "data-label": "State", "data-testid": "rule-state" }, state(rule)),
      h("td", { class: "actions" }, ...actions));
  }

  function draw() {
    if (!rules.length) {
      replace(list, empty("No alert rule on this schedule yet.", h("p", {}, changeable
        ? "New rule makes one: what an agent's round must show, on how many agents, in how many rounds."
        : "The schedule's owner or an admin makes them.")));
      return;
    }
    keepFocus(list, () => replace(list, h("div", { class: "table-scroll" }, h("table", { class: "table stack rules" },
      h("thead", {}, h("tr", {}, ...["Rule", "Condition", "Fires on", "Clears after", "Channels", "State"].map((t) => h("th", { scope: "col" }, t)),
        h("th", { scope: "col" }, h("span", { class: "offscreen" }, "Actions")))),
      h("tbody", {}, ...rules.map(row))))));
  }

  async function load() {
    try {
      rules = (await api(`/api/schedules/${sid}/alerts`)).items;
    } catch (error) {
      replace(list, message("error", `The rules could not load: ${error.message}`));
      return;
    }
    draw();
  }

  const onAlert = (event) => { if ((event.data || {}).schedule_id === sid) load(); };
  const off = [ctx.live.on("alert.fired", onAlert), ctx.live.on("alert.resolved", onAlert), ctx.live.on("reset", load),
    ctx.live.on("reconnected", load)];
  await load();
  return () => off.forEach((fn) => fn());
}
