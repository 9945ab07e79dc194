// The flow chart: bpmn-js's NavigatedViewer with powerflow's facts as overlays on the elements.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { layoutProcess } from "bpmn-auto-layout";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import { h } from "./dom.js";
import { duration, limit } from "./format.js";

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

/**
 * Render `xml` into `container`; `steps` get overlays, `marks` maps element ids to a marker
 * class (done, current, overdue). Returns the viewer.
 */
export async function showDiagram(container, xml, { steps = [], marks = {}, label }) {
  const canvasHost = h("div", {
    class: "canvas",
    role: "group",
    "aria-label": label,
  });
  const zoomIn = h("button", { type: "button" }, "Zoom in");
  const zoomOut = h("button", { type: "button" }, "Zoom out");
  const fit = h("button", { type: "button" }, "Fit to view");
  container.append(
    h("div", { class: "diagram-tools", role: "group", "aria-label": "Flow chart view" }, zoomIn, zoomOut, fit),
    canvasHost,
  );
  const viewer = new NavigatedViewer({ container: canvasHost });
  let drawn = false;
  if (/BPMNDiagram\b/.test(xml)) {
    try {
      await viewer.importXML(xml);
      drawn = true;
    } catch {
      drawn = false; // laid out below
    }
  }
  if (!drawn) {
    // The file carries no drawing (BPMN DI): lay the process out automatically.
    container.insertBefore(
      h("p", { class: "hint" }, "This model carries no drawing; the chart below is laid out automatically."),
      canvasHost,
    );
    try {
      await viewer.importXML(await layoutProcess(xml));
    } catch (error) {
      throw new Error(`The flow chart cannot be drawn: ${error.message || error}`);
    }
  }
  const canvas = viewer.get("canvas");
  const overlays = viewer.get("overlays");
  const registry = viewer.get("elementRegistry");
  canvas.zoom("fit-viewport", "auto");
  zoomIn.addEventListener("click", () => canvas.zoom(canvas.zoom() * 1.25));
  zoomOut.addEventListener("click", () => canvas.zoom(canvas.zoom() / 1.25));
  fit.addEventListener("click", () => canvas.zoom("fit-viewport", "auto"));
  for (const step of steps) {
    if (!registry.get(step.element_id)) continue;
    const items = badges(step);
    if (!items.length) continue;
    overlays.add(step.element_id, "powerflow", {
      position: { top: -3, left: -4 },
      html: h("div", { class: "overlay", "data-element": step.element_id }, items),
    });
  }
  setMarks(viewer, marks);
  return viewer;
}

const MARKS = ["done", "current", "overdue", "failed"];

/** Mark the elements of `marks` (id -> done, current, overdue, failed), replacing earlier marks. */
export function setMarks(viewer, marks) {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  for (const element of registry.getAll()) {
    for (const mark of MARKS) canvas.removeMarker(element.id, `pf-${mark}`);
  }
  for (const [id, mark] of Object.entries(marks)) {
    if (registry.get(id)) canvas.addMarker(id, `pf-${mark}`);
  }
}
