// The flow chart: bpmn-js's NavigatedViewer with powerflow's facts as overlays on the elements.
// Loaded only when a page draws a chart (chart.js imports it on demand), so the first page does
// not parse bpmn-js; its stylesheets are in the main stylesheet (main.js).
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { layoutProcess } from "bpmn-auto-layout";
import { badges } from "./chart.js";
import { h } from "./dom.js";

/**
 * Render `xml` into `container`; `steps` get overlays, `marks` maps element ids to a marker
 * class (done, current, overdue, and the designer's error, warning, added, changed, removed);
 * `notes` ({element_id, items, kind}) are overlays below their element (a problem's number, a
 * change's word). Returns the viewer.
 */
export async function showDiagram(container, xml, { steps = [], marks = {}, notes = [], label }) {
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
  const below = {};
  for (const note of notes) {
    if (!registry.get(note.element_id)) continue;
    (below[note.element_id] = below[note.element_id] || []).push(note);
  }
  for (const [id, list] of Object.entries(below)) {
    overlays.add(id, "powerflow-note", {
      position: { bottom: -4, left: -4 },
      html: h("div", { class: "overlay below", "data-element": id },
        list.map((note) => h("span", { class: `badge note-${note.kind}` }, note.items))),
    });
  }
  return viewer;
}

const MARKS = [
  "done", "current", "overdue", "failed", "error", "warning", "added", "changed", "removed",
  "heat-0", "heat-1", "heat-2", "heat-3",
];

/** Mark the elements of `marks` (id -> done, current, overdue, failed, the designer's error,
 * warning, added, changed, removed, or the heat map's heat-0 to heat-3), replacing earlier marks. */
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
