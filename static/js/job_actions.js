// What one does with a job: run it again (same tool, parameters and agents), edit it on
// the Run page (prefilled) and run that, copy its link, download it as CSV or JSON (the
// API's export, so scripts get the same file), and cancel what is still queued.

import { api } from "./api.js";
import { h, copyButton } from "./dom.js";
import { repeatControl } from "./schedule_form.js";

/** The body that starts the same job again (the agents it ran on, by name). */
export function rerunBody(job) {
  return { tool: job.tool, params: { ...job.params }, agents: [...(job.agents || [])] };
}

/** Whether any task of the job still waits to be fetched (so Cancel has work to do). */
export function hasQueued(job, tasks) {
  return [...tasks].some((task) => task.state === "queued") || ((job.counts || {}).queued || 0) > 0;
}

/**
 * The action bar.  `onError(text)` shows a failure; `onCancel()` cancels queued tasks;
 * `canCancel` says whether to offer it.
 */
export function jobActions(job, ctx, { canCancel, cancelLabel, onCancel, onError }) {
  const operator = ctx.can("operator");
  const link = `${location.origin}${location.pathname}#/jobs/${job.job_id}`;
  const rerun = async (button) => {
    button.disabled = true;
    try {
      const started = await api("/api/jobs", { method: "POST", body: rerunBody(job) });
      ctx.focusHeading = true;
      ctx.jobFrom = "run";
      ctx.navigate(`#/jobs/${started.job_id}`);
    } catch (error) {
      onError(`Run again failed: ${error.message}`);
      button.disabled = false;
    }
  };
  const again = operator ? h("button", { type: "button", class: "small primary", "data-testid": "rerun",
    onclick: (event) => rerun(event.currentTarget) }, "Run again") : null;
  const edit = operator ? h("a", { class: "button small", href: `#/run/from/${job.job_id}`, "data-testid": "edit-rerun" }, "Edit and run") : null;
  const copy = copyButton(() => link, "Copy link");
  copy.dataset.testid = "copy-link";
  const exports = ["csv", "json"].map((format) => h("a", {
    class: "button small ghost", href: `/api/jobs/${job.job_id}/export?format=${format}`, download: `job-${job.job_id}.${format}`,
    "data-testid": `export-${format}`,
  }, `Export ${format.toUpperCase()}`));
  const cancel = canCancel && operator
    ? h("button", { type: "button", class: "small danger", "data-testid": cancelLabel ? "stop-job" : "cancel-job", onclick: onCancel },
      cancelLabel || "Cancel queued tasks") : null;
  return h("div", { class: "job-actions", role: "group", "aria-label": "Job actions" }, again, edit, repeatControl(job, ctx), copy, ...exports, cancel);
}
