// An actions menu: one button that opens a short list of actions (WAI-ARIA menu button).
// Enter, Space or ArrowDown open it on the first item; arrows move, Escape or Tab close it
// and focus returns to the button; a click outside closes it.

import { h } from "./dom.js";

let open = null;  // the menu open now: {button, list}

function close(focusButton = false) {
  if (!open) return;
  const { button, list } = open;
  open = null;
  list.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (focusButton) button.focus();
}

document.addEventListener("click", (event) => {
  if (open && !open.button.parentElement.contains(event.target)) close();
});

/** items: [{label, onSelect, danger?, title?, describedby?}] → the menu's wrapper. */
export function actionMenu(label, items, { name = label } = {}) {
  const id = `menu-${Math.random().toString(36).slice(2, 9)}`;
  const button = h("button", { type: "button", class: "small menu-button", "aria-haspopup": "menu", "aria-expanded": "false",
    "aria-controls": id, "aria-label": name, dataset: { focus: `menu:${name}` } }, label, h("span", { "aria-hidden": "true" }, " ▾"));
  const entries = items.map((item) => h("button", {
    type: "button", role: "menuitem", tabindex: "-1", class: item.danger ? "danger" : null, title: item.title || null,
    "aria-describedby": item.describedby || null,
    onclick: () => { close(true); item.onSelect(); },
  }, item.label));
  const list = h("div", { class: "menu", role: "menu", id, "aria-label": name, hidden: true }, ...entries);
  const show = (index = 0) => {
    if (open && open.list !== list) close();
    open = { button, list };
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    entries[Math.max(0, Math.min(entries.length - 1, index))].focus();
  };
  button.addEventListener("click", () => (list.hidden ? show(0) : close(true)));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); show(0); }
    if (event.key === "ArrowUp") { event.preventDefault(); show(entries.length - 1); }
  });
  list.addEventListener("keydown", (event) => {
    const index = entries.indexOf(document.activeElement);
    const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
    if (step) { event.preventDefault(); entries[(index + step + entries.length) % entries.length].focus(); }
    else if (event.key === "Home") { event.preventDefault(); entries[0].focus(); }
    else if (event.key === "End") { event.preventDefault(); entries[entries.length - 1].focus(); }
    else if (event.key === "Escape") { event.preventDefault(); close(true); }
    else if (event.key === "Tab") close();
  });
  return h("div", { class: "menu-wrap" }, button, list);
}
