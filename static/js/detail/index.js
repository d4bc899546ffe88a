// Per-tool detail under a job's table: routes (the merged path view and hop tables),
// ping replies, the HTTP waterfall, DNS answers.  `rows` are the job's rows in the
// table's order: [{task, parsed, answer, status}].

import { pathView } from "./path.js";
import { hopTables } from "./hops.js";
import { pingDetail } from "./ping.js";
import { httpDetail } from "./http.js";
import { dnsDetail } from "./dns.js";
import { normalHops } from "./route.js";

/** The detail sections for `tool` (an array of nodes, maybe empty). */
export function detailFor(tool, rows, job, width = 1100) {
  const simple = rows.filter((r) => r.parsed && r.task.state === "done")
    .map((r) => ({ agent: r.task.agent, parsed: r.parsed, answer: r.answer, status: r.status }));
  if (tool === "traceroute" || tool === "mtr") {
    const routes = simple.map((r) => ({ agent: r.agent, hops: normalHops(r.parsed), reached: r.parsed.reached, mtr: tool === "mtr" }));
    const target = simple.map((r) => r.parsed.address).find(Boolean) || (job && job.target) || null;
    return [pathView(routes, target, width), hopTables(routes)].filter(Boolean);
  }
  if (tool === "ping") return [pingDetail(simple)].filter(Boolean);
  if (tool === "curl") return [httpDetail(simple)].filter(Boolean);
  if (tool === "dig") return [dnsDetail(simple)].filter(Boolean);
  return [];
}
