// What pages need of the flow chart without loading bpmn-js: the overlay badges, and
// showDiagram, which loads diagram.js (bpmn-js, about four fifths of the console's script) the
// first time a page draws a chart. The power list, the inbox and the forms never load it.
import { h } from "./dom.js";
import { duration, limit } from "./format.js";

let loading = null;

/** Render a chart (see diagram.js showDiagram); loads bpmn-js on first use. */
export async function showDiagram(container, xml, options) {
  if (!loading) {
    loading = import("./diagram.js").catch((error) => {
      loading = null; // a failed load (the network) may be tried again
      throw new Error(`The flow chart cannot be drawn: ${error.message || error}`);
    });
  }
  const diagram = await loading;
  return diagram.showDiagram(container, xml, options);
}

/** Re-mark a drawn chart's elements (see diagram.js setMarks); the chart's bpmn-js is loaded. */
export async function setMarks(viewer, marks) {
  const diagram = await loading;
  diagram.setMarks(viewer, marks);
}

const RISK = { high: "High risk", medium: "Medium risk", low: "Low risk" };

/** The overlay badges of one public step (time limit, risk point, notice). */
export function badges(step) {
  const items = [];
  if (step.time_limit && step.time_limit.duration) {
    items.push(h("span", { class: "badge limit" }, `Limit ${limit(step.time_limit)}`));
  }
  if (step.risk && step.risk.level) {
    items.push(
      h("span", { class: `badge risk risk-${step.risk.level}` }, RISK[step.risk.level] || `Risk ${step.risk.level}`),
    );
  }
  if (step.notice) {
    items.push(h("span", { class: "badge notice" }, `Notice ${duration(step.notice.period, step.notice.calendar)}`));
  }
  return items;
}

/** Whether the chart drew the element `id`. */
export function drawn(viewer, id) {
  return Boolean(viewer && id && viewer.get("elementRegistry").get(id));
}

/** Scroll the chart to the element `id` and mark it as the one looked at (one at a time). */
export function reveal(viewer, id) {
  const registry = viewer.get("elementRegistry");
  const canvas = viewer.get("canvas");
  const element = registry.get(id);
  if (!element) return false;
  for (const other of registry.getAll()) canvas.removeMarker(other, "pf-focus");
  canvas.addMarker(element, "pf-focus");
  canvas.scrollToElement(element, { top: 80, bottom: 80, left: 80, right: 80 });
  return true;
}
