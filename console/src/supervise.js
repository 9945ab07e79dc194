// What the monitors' pages share: links to an instance, alert levels in words and colour, the
// live status line, and re-rendering a region without losing the person's place in it.
import { h } from "./dom.js";
import { ALERT } from "./work.js";

export { ALERT };

/** Whether the person supervises (the API shows them every instance and its events). */
export function supervises(me) {
  return Boolean(me && (me.roles.includes("monitor") || me.roles.includes("admin")));
}

/** A link to an instance's page, named by its business key (or the start of its id). */
export function instanceLink(id, businessKey) {
  return h("a", { href: `#/instances/${encodeURIComponent(id)}` },
    businessKey || `Instance ${id.slice(0, 8)}`);
}

/** An alert level as a coloured badge with its words. */
export function levelBadge(level) {
  if (!level) return h("span", { class: "hint" }, "None");
  return h("span", { class: `alert alert-${level}` }, ALERT[level] || level);
}

/** The line saying whether the page follows the event stream (a polite live region). */
export function liveLine() {
  const el = h("p", { class: "live-state", role: "status" }, "Connecting to the live updates…");
  const set = (state, sentence) => {
    el.dataset.state = state;
    el.textContent = {
      live: "Live: this page updates itself as steps are recorded.",
      reconnecting: "The live updates were interrupted; reconnecting…",
      refused: `No live updates: ${sentence || "the server refused them."}`,
    }[state] || state;
  };
  return { el, set };
}

/**
 * Replace `host`'s content with `nodes`, keeping the focus on the same control when it was
 * inside (matched by its data-focus key), so a live update does not lose the person's place.
 */
export function replaceKeepingFocus(host, nodes) {
  const active = document.activeElement;
  const key = active && host.contains(active) && active.dataset ? active.dataset.focus : null;
  host.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
  if (key) {
    const again = host.querySelector(`[data-focus="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/** A table with a caption, header cells and rows; `rows` are arrays of cells (the first a th). */
export function table(className, caption, columns, rows, rowAttrs = () => ({})) {
  return h("table", { class: className },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs(row.item),
      row.cells.map((cell, i) => (i === 0
        ? h("th", { scope: "row" }, cell)
        : h("td", { "data-label": columns[i] }, cell)))))));
}
