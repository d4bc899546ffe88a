// A task's raw output: the whole `result` when the server sent it, else the bounded
// `result_preview` (task.done events, and lists that send previews) with `result_bytes`,
// the size of the whole; the rest is one GET /api/tasks/{id} away, fetched on demand.

import { api } from "./api.js";

const encoder = new TextEncoder();

/** {text, complete}: the output to show now (null: none yet) and whether it is all of it. */
export function rawOutput(task) {
  if (typeof task.result === "string") return { text: task.result, complete: true };
  if (typeof task.result_preview === "string") {
    const complete = typeof task.result_bytes !== "number"
      || encoder.encode(task.result_preview).length >= task.result_bytes;
    return { text: task.result_preview, complete };
  }
  if (typeof task.result_bytes === "number" && task.result_bytes > 0) return { text: "", complete: false };
  return { text: null, complete: true };
}

/** Whether the task has any output to show (now, or one request away). */
export function hasOutput(task) {
  return rawOutput(task).text !== null;
}

/** The task's whole result, fetched from the server (resolves to its text). */
export async function fetchWholeResult(taskId) {
  const task = await api(`/api/tasks/${taskId}`);
  return typeof task.result === "string" ? task.result : "";
}

/** "12.3 KiB": a byte count people read. */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** What is shown while the rest of an output loads. */
export function loadingNote(task) {
  const shown = rawOutput(task).text || "";
  return shown ? `Showing the first ${size(encoder.encode(shown).length)} of ${size(task.result_bytes)}; loading the rest…`
    : `Loading the output (${size(task.result_bytes)})…`;
}
