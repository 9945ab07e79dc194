"""The order in which an instance's tasks are listed: the diagram's reading order of their
elements (``position`` in the definition's catalog, engine/document_order.py), then creation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, literal

from powerflow.db.models import Task

T = TypeVar("T")
UNPLACED = 1 << 30  # elements of definitions deployed before positions were recorded


def positions(catalog: dict[str, Any]) -> dict[str, int]:
    """Element id -> reading order, for the elements that have one."""
    found: dict[str, int] = {}
    for element_id, element in catalog.get("elements", {}).items():
        position = element.get("position") if isinstance(element, dict) else None
        if isinstance(position, int):
            found[element_id] = position
    return found


def in_document_order(tasks: Sequence[T], catalog: dict[str, Any]) -> list[T]:
    """``tasks`` (rows with ``element_id`` and ``created_at``) in reading order, then creation;
    ties keep the given order."""
    ranks = positions(catalog)
    return sorted(
        tasks,
        key=lambda t: (ranks.get(getattr(t, "element_id", ""), UNPLACED), t.created_at),  # type: ignore[attr-defined]
    )


def document_order_column(catalog: dict[str, Any]) -> ColumnElement[int]:
    """A SQL expression ranking ``tasks.element_id`` by reading order (for ORDER BY)."""
    ranks = positions(catalog)
    if not ranks:
        return literal(UNPLACED)
    return case(ranks, value=Task.element_id, else_=UNPLACED)
