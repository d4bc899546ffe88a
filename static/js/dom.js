// DOM helpers: every piece of data enters the page as text (textContent, attributes),
// never as HTML.  `h("td", {class: "num"}, value)` builds an element.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { child.forEach((c) => append(node, c)); return; }
  node.append(child instanceof Node ? child : document.createTextNode(String(child)));
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** An HTML element with attributes and children (strings become text nodes). */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

/** An SVG element. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

/** Replace a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function agoText(when) {
  const seconds = Math.round((Date.now() - when.getTime()) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return when.toLocaleDateString();
}

/** A "2 min ago" style time, with the full date in the title; kept fresh by refreshTimes. */
export function ago(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  const when = new Date(iso);
  return h("time", { datetime: iso, title: when.toLocaleString(), class: "ago", dataset: { ago: iso } }, agoText(when));
}

/** Bring every "… ago" under `root` up to date (the console calls it every few seconds). */
export function refreshTimes(root = document) {
  for (const node of root.querySelectorAll("time[data-ago]")) {
    const text = agoText(new Date(node.dataset.ago));
    if (node.textContent !== text) node.textContent = text;
  }
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

/** A button copying `getText()` to the clipboard, saying so. */
export function copyButton(getText, label = "Copy") {
  const button = h("button", { type: "button", class: "small" }, label);
  button.addEventListener("click", async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API refused (plain http): fall back to a selected textarea.
      const area = h("textarea", { class: "offscreen", readonly: true }, text);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/** A message box: kind is "error", "info", "ok" or "warn". */
export function message(kind, ...children) {
  return h("div", { class: `msg ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

/** A friendly empty state: what is missing and what to do next. */
export function empty(title, ...next) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), ...next);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

/** A safe avatar URL (http/https only), or null. */
export function safeImageUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Run `fn` at most once per `ms`, trailing. */
export function throttle(fn, ms) {
  let timer = null;
  return (...args) => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
}
