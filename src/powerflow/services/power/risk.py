"""Risk points (廉政风险点): what a high-risk link requires of the person completing it, and the
risk map of a process.

A ``pf:risk`` may require, on a human task of level high, a reasoned comment with every
completion (``require_comment``) and a countersignature by a second person holding a role
(``countersign``). Both are checked by the one policy point of completion
(``services/power/policy.py``), before the rules; the countersignature itself is
``services/power/countersign.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from powerflow.db.engine import Store
from powerflow.services.definitions import resolve
from powerflow.services.errors import InvalidInput
from powerflow.services.power.rules import applicable
from powerflow.services.views import DefinitionView

HUMAN_TASK_TAGS = ("userTask", "manualTask", "task")
COMMENT_MAX = 4000


def risk_of(definition: DefinitionView, element_id: str) -> dict[str, Any] | None:
    """The risk point of an element (None without one); old catalogs lack the new keys."""
    element = definition.catalog.get("elements", {}).get(element_id) or {}
    risk = (element.get("metadata") or {}).get("risk")
    return risk if isinstance(risk, dict) else None


def countersign_role(definition: DefinitionView, element_id: str) -> str | None:
    """The role that must countersign completions of this element, if its risk point says so."""
    risk = risk_of(definition, element_id) or {}
    role = risk.get("countersign")
    return str(role) if role else None


def check_completion(
    definition: DefinitionView, element_id: str, task_name: str, comment: str | None
) -> str | None:
    """What the element's risk point requires of a completion: InvalidInput (422) when it needs a
    reasoned comment and none was given; the countersign role when it needs one, else None."""
    risk = risk_of(definition, element_id)
    if not risk:
        return None
    if risk.get("require_comment") and not (comment or "").strip():
        raise InvalidInput(
            f"Task '{task_name}' is a high-risk link: completing it needs a reasoned comment. "
            'Send it beside the data, as {"data": {...}, "comment": "why"}.'
        )
    return countersign_role(definition, element_id)


@dataclass
class RiskMapEntry:
    """One activity of a process with what supervision needs to know of it."""

    element_id: str
    name: str
    tag: str
    lane: str | None
    position: int | None
    roles: list[str]
    risk: dict[str, Any] | None
    requirements: dict[str, Any]
    time_limits: dict[str, Any]
    legal_basis: list[str]
    rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RiskMap:
    """The risk map of a definition version: its activities in the diagram's reading order."""

    definition_key: str
    definition_version: int
    definition_id: int
    name: str
    elements: list[RiskMapEntry]


def _rule_summary(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id,
        "version": rule.version,
        "source": rule.source,
        "kind": rule.kind,
        "effect": rule.effect,
        "on": list(rule.on),
        "message": rule.message,
        "legal_basis": list(rule.legal_basis),
    }


def risk_map(store: Store, key: str, version: int | None) -> RiskMap:
    """Per activity of the process (latest version unless ``version``): its risk point and what
    that requires, its responsible roles, time limits and legal basis, and the rules guarding
    its claim and completion (from the BPMN and the API), in the diagram's reading order."""
    with store.begin(write=False) as conn:
        definition = resolve(store, conn, key, version)
        elements = definition.catalog.get("elements", {})
        entries: list[RiskMapEntry] = []
        for element_id, element in elements.items():
            meta = element.get("metadata") or {}
            risk = meta.get("risk")
            rules: dict[str, Any] = {}
            if element.get("tag") in HUMAN_TASK_TAGS:
                for act in ("claim", "complete"):
                    for rule in applicable(store, conn, definition, element_id, act):
                        rules.setdefault(rule.id, rule)
            full = None
            if isinstance(risk, dict):
                full = {
                    "level": risk.get("level"),
                    "description": risk.get("description"),
                    "measures": list(risk.get("measures") or []),
                }
            entries.append(
                RiskMapEntry(
                    element_id=element_id,
                    name=str(element.get("name") or element_id),
                    tag=str(element.get("tag") or ""),
                    lane=element.get("lane"),
                    position=element.get("position"),
                    roles=list(element.get("roles") or []),
                    risk=full,
                    requirements={
                        "comment": bool((risk or {}).get("require_comment")),
                        "countersign": (risk or {}).get("countersign"),
                    },
                    time_limits=dict(meta.get("time_limits") or {}),
                    legal_basis=list(meta.get("legal_basis") or []),
                    rules=[_rule_summary(r) for r in sorted(rules.values(), key=lambda r: r.order)],
                )
            )
    entries.sort(key=lambda e: (e.position is None, e.position or 0, e.element_id))
    return RiskMap(definition.key, definition.version, definition.id, definition.name, entries)
