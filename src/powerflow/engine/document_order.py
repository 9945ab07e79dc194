"""The reading order of a process's elements, so ready tasks are listed in a stable order.

A designer reads a diagram top to bottom, then left to right (SpiffWorkflow orders the branches
of a gateway the same way, by their vertical position). Elements the file draws (BPMN DI
shapes) come in that order; elements without a shape follow in XML order.
"""

from __future__ import annotations

from lxml import etree

BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"


def _shape_positions(root: etree._Element) -> dict[str, tuple[float, float]]:
    """(y, x) of the top-left corner of every drawn element, by element id (first shape)."""
    found: dict[str, tuple[float, float]] = {}
    for shape in root.iter(f"{{{BPMNDI_NS}}}BPMNShape"):
        element = shape.get("bpmnElement")
        bounds = shape.find(f"{{{DC_NS}}}Bounds")
        if not element or element in found or bounds is None:
            continue
        try:
            found[element] = (float(bounds.get("y") or 0), float(bounds.get("x") or 0))
        except ValueError:  # a malformed coordinate: treat the element as undrawn
            continue
    return found


def document_order(process: etree._Element) -> dict[str, int]:
    """Rank of every element id of ``process``: drawn elements by (y, x), then undrawn ones in
    XML order; ties keep XML order."""
    shapes = _shape_positions(process.getroottree().getroot())
    ids = [n.get("id") for n in process.iter() if isinstance(n.tag, str) and n.get("id")]

    def key(index: int) -> tuple[int, float, float, int]:
        at = shapes.get(ids[index] or "")
        return (0, at[0], at[1], index) if at else (1, 0.0, 0.0, index)

    ranked = sorted(range(len(ids)), key=key)
    return {str(ids[i]): rank for rank, i in enumerate(ranked)}
