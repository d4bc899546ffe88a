// DNS answers per agent, side by side; agents that got a different set of records are
// told apart (different A records in different places is the finding): each distinct
// answer gets a letter, and records outside the most common answer are highlighted.

import { h } from "../dom.js";
import { formatMs } from "../format.js";

const record = (a) => `${a.type} ${a.data}`;

/** The answer set of a result as one comparable key (order and TTLs ignored). */
export function answerKey(parsed) {
  return [...new Set((parsed.answers || []).map(record))].sort().join(" | ");
}

/** rows: [{agent, parsed, answer, status}] → the answers table, or null.  The sentence above it
 * compares answers: different ones, the same one, or none (every agent failed, with why). */
export function dnsDetail(rows) {
  const usable = rows.filter((r) => r.parsed && r.parsed.kind === "dig");
  if (!usable.length) return null;
  const groups = new Map();
  for (const row of usable) {
    const key = `${row.parsed.status || ""}: ${answerKey(row.parsed)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row.agent);
  }
  const ordered = [...groups.entries()].sort((a, b) => b[1].length - a[1].length);
  const letter = new Map(ordered.map(([key], i) => [key, String.fromCharCode(65 + i)]));
  const common = new Set((usable.find((r) => `${r.parsed.status || ""}: ${answerKey(r.parsed)}` === ordered[0][0]).parsed.answers || []).map(record));
  const differ = ordered.length > 1;
  const failures = usable.filter((r) => !r.answer);
  let verdict = null;  // a single answer compares with nothing: no sentence
  if (failures.length === usable.length) {
    const why = new Map();  // reason -> agents, in the table's order
    for (const r of failures) {
      const reason = (r.status && r.status.note) || r.parsed.status || "failed";
      why.set(reason, [...(why.get(reason) || []), r.agent]);
    }
    verdict = h("p", { class: "msg error", "data-testid": "dns-none" }, usable.length > 1 ? "No agent got an answer: " : "No answer: ",
      [...why].map(([reason, names]) => (usable.length > 1 ? `${reason} (${names.join(", ")})` : reason)).join("; "), ".");
  } else if (differ) {
    verdict = h("p", { class: "msg warn", "data-testid": "dns-differ" }, `${ordered.length} different answers: `,
      ordered.map(([, agents], i) => `${String.fromCharCode(65 + i)} from ${agents.join(", ")}`).join("; "), ".");
  } else if (usable.length > 1) {
    verdict = h("p", { class: "muted", "data-testid": "dns-same" }, "Every agent got the same answer.");
  }
  return h("section", { class: "card", "aria-labelledby": "dns-title", "data-testid": "dns-detail" },
    h("h2", { id: "dns-title" }, "Answers per agent"),
    verdict,
    h("div", {}, h("table", { class: "table stack compact dns" },
      h("caption", { class: "sr" }, "DNS answers per agent"),
      h("thead", {}, h("tr", {}, ...["Agent", "Answer", "Status", "Records", "Query time"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...usable.map(({ agent, parsed }) => {
        const key = `${parsed.status || ""}: ${answerKey(parsed)}`;
        const odd = differ && key !== ordered[0][0];
        return h("tr", { class: odd ? "answer-differs" : "", dataset: { agent, answer: letter.get(key) } },
          h("td", { "data-label": "Agent" }, h("strong", {}, agent)),
          h("td", { "data-label": "Answer" }, h("span", { class: `badge ${odd ? "warn" : ""}` }, letter.get(key))),
          h("td", { "data-label": "Status" }, parsed.status || "—"),
          h("td", { "data-label": "Records" }, (parsed.answers || []).length
            ? h("ul", { class: "records" }, ...(parsed.answers || []).map((a) => h("li", { class: differ && !common.has(record(a)) ? "differs" : "" },
              h("span", { class: "mono" }, `${a.type} ${a.data}`), a.ttl !== null && a.ttl !== undefined ? h("span", { class: "muted" }, ` ttl ${a.ttl}`) : null)))
            : h("span", { class: "muted" }, "no records")),
          h("td", { class: "num", "data-label": "Query time" }, formatMs(parsed.query_time_ms)));
      })))));
}
