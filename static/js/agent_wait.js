// Why a task for an agent waits although nothing is wrong: the agent is disabled (it gets
// no tasks until an admin enables it), or it was just enabled (toolbox-agent, paused while
// disabled, asks again only every PAUSE_SECONDS; the field agent polls every second and
// needs no word).  Run and the job view say it; the Agents page says it on Enable.

import { clock } from "./outcome.js";

export const PAUSE_SECONDS = 30;  // toolbox-agent's pause between asks while disabled
const SLACK_SECONDS = 5;  // its ask, the fetch and the claim after the pause

/** Until when (ms since the epoch) ``agent``'s enabling explains a wait; 0 when it does not. */
export function wakeBy(agent, now = Date.now()) {
  if (!agent || agent.disabled || !agent.enabled_at || !(agent.user_agent || "").startsWith("toolbox-agent")) return 0;
  const until = Date.parse(agent.enabled_at) + (PAUSE_SECONDS + SLACK_SECONDS) * 1000;
  return until > now ? until : 0;
}

/** A short note on why a task for ``agent`` waits, or null when nothing explains it. */
export function waitNote(agent, now = Date.now()) {
  if (!agent) return null;
  if (agent.disabled) return "agent disabled: the task waits until an admin enables it on Agents (or it times out)";
  if (wakeBy(agent, now)) {
    return `agent enabled at ${clock(agent.enabled_at)}: toolbox-agent paused while disabled and asks again within ${PAUSE_SECONDS} s`;
  }
  return null;
}
