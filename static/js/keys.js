// Keyboard habits of the console: focus stays where the user was when a part of the
// page is drawn again, and arrow keys move inside radio and tab groups (one tab stop per
// group, the chosen item; Home/End to the ends), as the WAI-ARIA practices describe.

/** What identifies a control across redraws: its data-focus, else id, name, or text. */
function focusKey(node) {
  if (!node || node === document.body) return null;
  return node.dataset.focus || (node.id ? `#${node.id}` : null)
    || (node.name ? `name:${node.name}` : null)
    || `${node.tagName}:${node.getAttribute("role") || ""}:${node.textContent.trim().slice(0, 40)}`;
}

function findByKey(root, key) {
  for (const node of root.querySelectorAll("button, a, input, select, textarea, [tabindex]")) {
    if (focusKey(node) === key) return node;
  }
  return null;
}

/** Run `draw()` (which replaces the inside of `root`) and give focus back to the same
 * control if the user was inside `root`. */
export function keepFocus(root, draw) {
  const active = document.activeElement;
  const key = active && root.contains(active) ? focusKey(active) : null;
  const result = draw();
  if (key) {
    const again = findByKey(root, key);
    if (again && again !== document.activeElement) again.focus();
  }
  return result;
}

/**
 * Arrow keys in a radio or tab group: `group` holds items matching `selector`; the one
 * with aria-checked/aria-selected "true" is the tab stop.  Arrows (either axis), Home and
 * End move focus and choose the item (its click runs), as radio groups and automatic
 * tabs do.  Call again after the group is redrawn.
 */
export function arrowKeys(group, selector) {
  const items = () => [...group.querySelectorAll(selector)].filter((n) => !n.disabled);
  const chosen = (n) => n.getAttribute("aria-checked") === "true" || n.getAttribute("aria-selected") === "true";
  const list = items();
  const current = list.find(chosen) || list[0];
  for (const item of list) item.tabIndex = item === current ? 0 : -1;
  if (group.dataset.arrows) return;
  group.dataset.arrows = "on";
  group.addEventListener("keydown", (event) => {
    const all = items();
    const index = all.indexOf(document.activeElement);
    if (index < 0) return;
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    let next = null;
    if (step) next = all[(index + step + all.length) % all.length];
    else if (event.key === "Home") next = all[0];
    else if (event.key === "End") next = all[all.length - 1];
    if (!next) return;
    event.preventDefault();
    const key = focusKey(next);
    next.click();  // the group may be drawn anew (even replaced): find the item again by its key
    const again = findByKey(group.isConnected ? group : document, key) || next;
    again.focus();
  });
}
