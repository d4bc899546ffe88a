// Outcomes as people read them: what a task's row or a job says (ok, partial, failed,
// lost, not fetched, canceled; while unfinished: waiting, running, agent offline,
// unfinished when the job ended), always in words, with the colour as a second cue.

import { h } from "./dom.js";

const TEXT = {
  ok: "ok", partial: "partial", failed: "failed", lost: "lost", delivery_timeout: "not fetched",
  canceled: "canceled", done: "done", queued: "waiting", dispatched: "running", offline: "agent offline",
  unfinished: "unfinished", running: "running",
};
const KIND = {
  ok: "ok", partial: "warn", failed: "bad", lost: "bad", delivery_timeout: "bad", canceled: "muted",
  done: "ok", queued: "wait", dispatched: "run", offline: "bad", unfinished: "bad", running: "run",
};
// Best first, for sorting rows by their outcome.
const ORDER = ["ok", "partial", "done", "failed", "lost", "offline", "delivery_timeout", "unfinished",
  "canceled", "dispatched", "queued"];

/** "14:03:07": a time of day from epoch milliseconds (or an ISO string). */
export function clock(when) {
  const date = new Date(typeof when === "string" ? Date.parse(when) : when);
  if (Number.isNaN(date.getTime())) return "?";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

/** The words for an outcome or status key ("not fetched", "agent offline"…). */
export function outcomeText(key) {
  return TEXT[key] || key;
}

/** A badge for an outcome or status key, its words always shown. */
export function outcomeBadge(key, title = null) {
  return h("span", { class: `badge ${KIND[key] || ""}`, dataset: { outcome: key }, title }, outcomeText(key));
}

/** The colour family of a key (ok, warn, bad, run, wait, muted) for rows and bars. */
export function outcomeKind(key) {
  return KIND[key] || "muted";
}

export function outcomeRank(key) {
  const index = ORDER.indexOf(key);
  return index < 0 ? ORDER.length : index;
}

/**
 * What a task's row says: {key, note}.  `key` is the task's outcome once it finished,
 * else its state, "offline" (its agent went offline: known before the task ends lost)
 * or "unfinished" (the job ended before it did); `note` is the server's one-line summary
 * or what the console knows.  `offline` is {at (ms), now (bool)} for the task's agent,
 * or null; `jobEnded`/`jobFinishedAt` come from the job.
 */
export function taskStatus(task, { offline = null, jobEnded = false, jobFinishedAt = null, waiting = null } = {}) {
  const wentOffline = (at) => `agent went offline at ${clock(at)}`;
  switch (task.state) {
    case "done": {
      const key = task.outcome || "done";
      const late = jobFinishedAt && task.finished_at && Date.parse(task.finished_at) > Date.parse(jobFinishedAt);
      const note = task.summary || (task.parsed && task.parsed.error) || "";
      return { key, note: late ? `${note}${note ? " · " : ""}arrived after the job ended` : note };
    }
    case "lost":
      if (task.reason === "agent_offline") {
        return { key: "lost", note: wentOffline(offline && offline.at ? offline.at : task.finished_at) };
      }
      return { key: "lost", note: task.summary || "no result" };
    case "delivery_timeout":
      return { key: "delivery_timeout", note: task.summary || "not fetched by its agent" };
    case "canceled":
      return { key: "canceled", note: task.summary || "canceled" };
    default: {
      const gone = offline && offline.now ? wentOffline(offline.at) : "";
      if (jobEnded) return { key: "unfinished", note: `unfinished when the job ended${gone ? ` · ${gone}` : ""}` };
      if (task.state === "queued" && waiting) return { key: "queued", note: waiting };  // disabled, or just enabled
      if (gone) return { key: "offline", note: task.state === "queued" ? `${gone}; the task waits for it` : gone };
      if (task.state === "dispatched") {
        return { key: "dispatched", note: task.time_limit ? `running on the agent (at most ${task.time_limit} s)` : "running on the agent" };
      }
      return { key: "queued", note: "waiting for its agent to fetch it" };
    }
  }
}

/** Whether a job has ended (its counts no longer change); a canceled job runs until
 * its delivered tasks report. */
export function jobEnded(job) {
  return Boolean(job.finished_at);
}

/** Badges for a job: "running" until it ends, then its outcome; "canceled" if it was. */
export function jobBadges(job) {
  const badges = [];
  if (!jobEnded(job)) badges.push(outcomeBadge("running"));
  else badges.push(outcomeBadge(job.outcome || "done", job.summary || null));
  if (job.state === "canceled") badges.push(outcomeBadge("canceled"));
  return badges;
}

/** The key a job row is coloured by: its outcome once ended, else "running". */
export function jobKey(job) {
  return jobEnded(job) ? job.outcome || "done" : "running";
}
