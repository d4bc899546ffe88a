// Agents at fleet size, as data: search (name, tag, address, platform: a part of any),
// sort, group by a tag's key ("isp" groups isp:telecom, isp:unicom…), counts per tag.

/** The key of a tag: "isp" for "isp:telecom"; a tag without ':' is its own key. */
export function tagKey(tag) {
  const at = tag.indexOf(":");
  return at > 0 ? tag.slice(0, at) : tag;
}

/** Tag → number of agents having it, most common first then by name: [[tag, n]]. */
export function tagCounts(agents) {
  const counts = new Map();
  for (const agent of agents) for (const tag of agent.tags) counts.set(tag, (counts.get(tag) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The tag keys worth grouping by (those with a ':'), sorted. */
export function groupKeys(agents) {
  return [...new Set(agents.flatMap((a) => a.tags.filter((t) => t.includes(":")).map(tagKey)))].sort();
}

export function matches(agent, needle, tags) {
  const text = needle.trim().toLowerCase();
  const hay = [agent.name, agent.platform, agent.address || "", ...agent.tags].map((s) => s.toLowerCase());
  return (!text || hay.some((s) => s.includes(text))) && [...tags].every((t) => agent.tags.includes(t));
}

const STATUS = (a) => (a.disabled ? 2 : a.online ? 0 : 1);
export const SORTS = {
  name: { label: "Name", compare: (a, b) => a.name.localeCompare(b.name) },
  status: { label: "Status (online first)", compare: (a, b) => STATUS(a) - STATUS(b) || a.name.localeCompare(b.name) },
  seen: { label: "Last seen (newest first)", compare: (a, b) => (Date.parse(b.last_seen || 0) || 0) - (Date.parse(a.last_seen || 0) || 0) || a.name.localeCompare(b.name) },
  platform: { label: "Platform", compare: (a, b) => a.platform.localeCompare(b.platform) || a.name.localeCompare(b.name) },
};

/** [{title, agents}] by the value of tag key `key` (agents without one last), or one group. */
export function grouped(agents, key) {
  if (!key) return [{ title: null, agents }];
  const groups = new Map();
  for (const agent of agents) {
    const values = agent.tags.filter((t) => tagKey(t) === key);
    for (const value of values.length ? values : [null]) {
      if (!groups.has(value)) groups.set(value, []);
      groups.get(value).push(agent);
    }
  }
  return [...groups.entries()].sort((a, b) => (a[0] === null) - (b[0] === null) || String(a[0]).localeCompare(String(b[0])))
    .map(([value, list]) => ({ title: value === null ? `no ${key} tag` : value, agents: list }));
}
