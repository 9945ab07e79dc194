"""Negative-list rules: the ones declared in BPMN files and the organisation's API rules.

A rule is data (``engine/rules.py`` checks its shape). BPMN rules come with their definition
(catalog ``rules``, version = the definition's version); API rules are versioned rows of
``rule_versions``, written by administrators. ``applicable`` answers which rules guard an act,
from per-process caches: no statement at all when the cached API rules are fresh.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from powerflow.db.engine import Store
from powerflow.db.models import Definition, RuleVersion
from powerflow.engine.rules import KINDS, RuleInvalid, element_references, normalize
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.views import DefinitionView

READ_ROLES = ("monitor", "auditor", "admin", "designer")
API_RULES_TTL_SECONDS = 5.0
NOTICE_KIND = "notice-period"
KIND_ORDER = {NOTICE_KIND: -1, **{kind: i for i, kind in enumerate(KINDS)}}
"""The built-in R17 (a public notice's period, services/supervision/notices.py) runs first."""


@dataclass(frozen=True)
class Rule:
    """One rule as evaluated: its identity (id, version, source) and what it checks."""

    id: str
    version: int
    source: str  # "bpmn" or "api"
    process_key: str | None
    kind: str
    effect: str
    level: str | None
    on: tuple[str, ...]
    elements: tuple[str, ...]  # empty: every human task of the process(es)
    legal_basis: tuple[str, ...]
    message: str
    params: dict[str, Any]
    enabled: bool = True
    created_by: str | None = None
    created_at: datetime | None = None

    @property
    def order(self) -> tuple[int, int, str]:
        """The fixed evaluation order: kind, then BPMN before API, then id."""
        return (KIND_ORDER[self.kind], 0 if self.source == "bpmn" else 1, self.id)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API."""
        return {
            "rule_id": self.id,
            "version": self.version,
            "source": self.source,
            "process_key": self.process_key,
            "kind": self.kind,
            "effect": self.effect,
            "level": self.level,
            "on": list(self.on),
            "elements": list(self.elements),
            "legal_basis": list(self.legal_basis),
            "message": self.message,
            "params": self.params,
            "enabled": self.enabled,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def _from_catalog(raw: dict[str, Any], key: str, version: int) -> Rule:
    return Rule(
        id=raw["id"],
        version=version,
        source="bpmn",
        process_key=raw.get("process") or key,  # a called process's rule: that process
        kind=raw["kind"],
        effect=raw["effect"],
        level=raw["level"],
        on=tuple(raw["on"]),
        elements=tuple(raw["elements"]),
        legal_basis=tuple(raw["legal_basis"]),
        message=raw["message"],
        params=raw["params"],
    )


def _from_row(row: RuleVersion | Any) -> Rule:
    return Rule(
        id=row.rule_id,
        version=row.version,
        source="api",
        process_key=row.process_key,
        kind=row.kind,
        effect=row.effect,
        level=row.level,
        on=tuple(row.acts),
        elements=tuple(row.elements),
        legal_basis=tuple(row.legal_basis),
        message=row.message,
        params=row.params,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
    )


Guards = dict[tuple[str, str], tuple[Rule, ...]]
"""(element id, act) -> the rules guarding it, in evaluation order."""


def bpmn_guards(store: Store, definition: DefinitionView) -> Guards:
    """The BPMN rules of a definition by (element, act); cached (definitions never change)."""
    key = ("rules", definition.id)
    hit = store.immutable_cache.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    guards: dict[tuple[str, str], list[Rule]] = {}
    for raw in definition.catalog.get("rules") or []:
        rule = _from_catalog(raw, definition.key, definition.version)
        for element in rule.elements:
            for act in rule.on:
                guards.setdefault((element, act), []).append(rule)
    result: Guards = {k: tuple(sorted(v, key=lambda r: r.order)) for k, v in guards.items()}
    store.immutable_cache[key] = result
    return result


def notice_guards(store: Store, definition: DefinitionView) -> dict[str, tuple[Rule, ...]]:
    """R17 per human task that follows a ``pf:notice`` element: its completion waits until
    the notice's period has passed (cached; empty for a process without notices)."""
    from powerflow.services.supervision import notices  # the notice rows live there

    key = ("notice-guards", definition.id)
    hit = store.immutable_cache.get(key)
    if isinstance(hit, dict):
        return hit
    spec = notices.notice_elements(store, definition)
    guards: dict[str, tuple[Rule, ...]] = {}
    for element_id, sources in notices.blocked_elements(definition.catalog).items():
        first = spec[sources[0]]
        rule = Rule(
            id=notices.RULE_ID,
            version=definition.version,
            source="bpmn",
            process_key=definition.key,
            kind=NOTICE_KIND,
            effect="block",
            level=None,
            on=("complete",),
            elements=(element_id,),
            legal_basis=tuple(first.get("legal_basis") or ()),
            message=notices.rule_message(first),
            params={"notices": list(sources)},
        )
        guards[element_id] = (rule,)
    store.immutable_cache[key] = guards
    return guards


class _ApiRules:
    """The enabled API rules of one database, refreshed every API_RULES_TTL_SECONDS.

    A rule written through this process is seen at once (``forget``); other workers see it
    within the TTL, like a changed user's roles. Between refreshes an act costs no statement.
    """

    def __init__(self) -> None:
        self._rules: tuple[Rule, ...] = ()
        self._expires = 0.0
        self._lock = threading.Lock()

    def get(self, conn: Connection) -> tuple[Rule, ...]:
        if self._expires > time.monotonic():
            return self._rules
        rows = conn.execute(_CURRENT_API_RULES).all()
        rules = tuple(sorted((_from_row(r) for r in rows if r.enabled), key=lambda r: r.order))
        with self._lock:
            if rules != self._rules:  # unchanged: the same tuple, so merged caches stay
                self._rules = rules
            self._expires = time.monotonic() + API_RULES_TTL_SECONDS
        return self._rules

    def forget(self) -> None:
        with self._lock:
            self._expires = 0.0


_LATEST = (
    select(RuleVersion.rule_id, func.max(RuleVersion.version).label("v"))
    .group_by(RuleVersion.rule_id)
    .subquery()
)
_CURRENT_API_RULES = select(RuleVersion).join(
    _LATEST, (RuleVersion.rule_id == _LATEST.c.rule_id) & (RuleVersion.version == _LATEST.c.v)
)
_API_CACHES: weakref.WeakKeyDictionary[Store, _ApiRules] = weakref.WeakKeyDictionary()


def _api_cache(store: Store) -> _ApiRules:
    cache = _API_CACHES.get(store)
    if cache is None:
        cache = _API_CACHES.setdefault(store, _ApiRules())
    return cache


def applicable(
    store: Store,
    conn: Connection,
    definition: DefinitionView,
    element_id: str,
    act: str,
) -> list[Rule]:
    """The rules guarding this act on this element, in evaluation order (may be empty).

    Merged once per (definition, element, act) and API rule set, then served from a cache.
    """
    api_rules = _api_cache(store).get(conn)
    key = (definition.id, element_id, act)
    merged = _MERGED.get(store)
    if merged is None or merged[0] is not api_rules:
        merged = _MERGED[store] = (api_rules, {})
    hit = merged[1].get(key)
    if hit is None:
        if len(merged[1]) > 10_000:
            merged[1].clear()
        hit = merged[1][key] = _merge(store, definition, element_id, act, api_rules)
    return hit


_MERGED: weakref.WeakKeyDictionary[
    Store, tuple[tuple[Rule, ...], dict[tuple[int, str, str], list[Rule]]]
] = weakref.WeakKeyDictionary()


def owning_process(definition: DefinitionView, element_id: str) -> str:
    """The key of the process an element belongs to: a called process's for the tasks a call
    activity runs, else the definition's own."""
    called: dict[str, str] = definition.catalog.get("called") or {}
    return called.get(element_id, definition.key)


def _merge(
    store: Store,
    definition: DefinitionView,
    element_id: str,
    act: str,
    api_rules: tuple[Rule, ...],
) -> list[Rule]:
    found = list(bpmn_guards(store, definition).get((element_id, act), ()))
    if act == "complete":
        found.extend(notice_guards(store, definition).get(element_id, ()))
    owner = owning_process(definition, element_id)
    for rule in api_rules:
        if act not in rule.on:
            continue
        if rule.process_key is not None and rule.process_key != owner:
            continue
        if rule.elements and element_id not in rule.elements:
            continue
        sod = rule.kind == "separation-of-duties"
        if not rule.elements and sod and element_id not in rule.params.get("tasks", ()):
            continue
        found.append(rule)
    if len(found) > 1:
        found.sort(key=lambda r: r.order)
    return found


# ----------------------------------------------------------------- the API rules' writes


def _require_reader(principal: Principal) -> None:
    if not principal.has(*READ_ROLES):
        raise Forbidden("Reading rules needs the monitor, auditor, designer or admin role.")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only an administrator may change organisation-wide rules.")


def put_rule(
    store: Store, principal: Principal, rule_id: str, body: dict[str, Any]
) -> tuple[Rule, bool]:
    """Create the next version of an API rule; (the rule, whether it is new)."""
    _require_admin(principal)
    try:
        checked = normalize({**body, "id": rule_id})
    except RuleInvalid as exc:
        raise InvalidInput(str(exc)) from None
    process_key = body.get("process_key")
    if checked["kind"] in ("required-before",) and not checked["elements"]:
        raise InvalidInput(
            f"Rule {rule_id} (required-before) must name the elements it guards (elements)."
        )
    if process_key is None and checked["elements"]:
        raise InvalidInput(
            f"Rule {rule_id} names elements, so it needs the process_key they belong to."
        )
    if process_key is not None:
        _check_elements(store, rule_id, process_key, checked)
    enabled = body.get("enabled", True)
    return _write_version(store, principal, rule_id, checked, process_key, bool(enabled))


HUMAN_TAGS = ("userTask", "manualTask", "task")


def _check_elements(store: Store, rule_id: str, process_key: str, checked: dict[str, Any]) -> None:
    """The elements a rule names must be human tasks of the latest version of its process
    (when one is deployed: a rule may be written before its process)."""
    with store.read() as session:
        catalog = session.scalar(
            select(Definition.catalog)
            .where(Definition.key == process_key)
            .order_by(Definition.version.desc())
            .limit(1)
        )
    if catalog is None:
        return
    human = {k for k, e in (catalog.get("elements") or {}).items() if e.get("tag") in HUMAN_TAGS}
    for what, ref in element_references(checked):
        if ref not in human:
            raise InvalidInput(
                f"Rule {rule_id}: {what} names '{ref}', which is not a human task of the latest "
                f"version of {process_key}."
            )


def _write_version(
    store: Store,
    principal: Principal,
    rule_id: str,
    checked: dict[str, Any],
    process_key: str | None,
    enabled: bool,
) -> tuple[Rule, bool]:
    with store.write() as session:
        latest = session.scalar(
            select(func.max(RuleVersion.version)).where(RuleVersion.rule_id == rule_id)
        )
        row = RuleVersion(
            rule_id=rule_id,
            version=(latest or 0) + 1,
            kind=checked["kind"],
            effect=checked["effect"],
            level=checked["level"],
            message=checked["message"],
            legal_basis=checked["legal_basis"],
            process_key=process_key,
            elements=checked["elements"],
            acts=checked["on"],
            params=checked["params"],
            enabled=enabled,
            created_by=principal.name,
            created_at=store.now(),
        )
        session.add(row)
        session.flush()
        rule = _from_row(row)
    _api_cache(store).forget()
    return rule, latest is None


def delete_rule(store: Store, principal: Principal, rule_id: str) -> Rule:
    """Retire an API rule: a new version with enabled false (earlier versions stay)."""
    _require_admin(principal)
    current = _versions(store, rule_id)
    if not current:
        raise NotFound(
            f"There is no API rule '{rule_id}' (rules declared in BPMN files "
            "change with a new version of their process)."
        )
    last = current[0]
    checked = {
        "kind": last.kind,
        "effect": last.effect,
        "level": last.level,
        "message": last.message,
        "legal_basis": list(last.legal_basis),
        "elements": list(last.elements),
        "on": list(last.on),
        "params": last.params,
    }
    rule, _ = _write_version(store, principal, rule_id, checked, last.process_key, False)
    return rule


def _versions(store: Store, rule_id: str) -> list[Rule]:
    with store.read() as session:
        rows = session.scalars(
            select(RuleVersion)
            .where(RuleVersion.rule_id == rule_id)
            .order_by(RuleVersion.version.desc())
        ).all()
        return [_from_row(r) for r in rows]


def _latest_bpmn_rules(store: Store) -> list[Rule]:
    """The rules declared in the latest deployed version of each process key."""
    with store.read() as session:
        latest = (
            select(Definition.key, func.max(Definition.version).label("v"))
            .group_by(Definition.key)
            .subquery()
        )
        rows = session.execute(
            select(Definition.key, Definition.version, Definition.catalog).join(
                latest, (Definition.key == latest.c.key) & (Definition.version == latest.c.v)
            )
        ).all()
    return [
        _from_catalog(raw, key, version)
        for key, version, catalog in rows
        for raw in (catalog or {}).get("rules") or []
        if not raw.get("process")  # a called process's rule: listed with that process
    ]


def list_rules(
    store: Store,
    principal: Principal,
    *,
    process_key: str | None = None,
    source: str | None = None,
    kind: str | None = None,
) -> list[Rule]:
    """Every active rule: API rules (current, enabled) and those of the latest definitions.

    ``process_key`` keeps the rules that can guard that process's acts (its own, and the
    organisation-wide ones that name no process); ``source`` (bpmn, api) and ``kind`` filter.
    """
    _require_reader(principal)
    if source is not None and source not in ("bpmn", "api"):
        raise InvalidInput("source must be one of: bpmn, api.")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(KINDS)}.")
    with store.read() as session:
        rows = session.execute(_CURRENT_API_RULES).scalars().all()
        api = [_from_row(r) for r in rows if r.enabled]
    found = [
        r
        for r in [*_latest_bpmn_rules(store), *api]
        if (process_key is None or r.process_key in (process_key, None))
        and (source is None or r.source == source)
        and (kind is None or r.kind == kind)
    ]
    return sorted(found, key=lambda r: (r.order, r.process_key or ""))


def get_rule(store: Store, principal: Principal, rule_id: str) -> tuple[Rule, list[Rule]]:
    """A rule with its versions, newest first: the API rule of that id, else a BPMN rule."""
    _require_reader(principal)
    versions = _versions(store, rule_id)
    if versions:
        return versions[0], versions
    bpmn = [r for r in _latest_bpmn_rules(store) if r.id == rule_id]
    if not bpmn:
        raise NotFound(f"There is no rule '{rule_id}'.")
    return bpmn[0], bpmn
