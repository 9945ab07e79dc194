"""The organisation's power list (权力清单), read from the deployed processes.

Each process declares the power item it exercises (``pf:powerItem``). The list is built from the
latest deployed version of each process key: one entry per item code, with the processes that
exercise it and their activities (who does what, in what time, at what risk). Two processes may
exercise the same item (a fund disbursement and a large-amount variant): both are listed under
the one item. Definitions never change once deployed, so the list is cached per set of latest
versions and rebuilt only after a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select

from powerflow.db.engine import Store
from powerflow.db.models import Definition
from powerflow.services.auth import Principal
from powerflow.services.errors import NotFound

HUMAN_TASK_TAGS = ("userTask", "manualTask", "task")
_DEFINITIONS = cast(Table, Definition.__table__)
_LATEST = (
    select(_DEFINITIONS.c.key, func.max(_DEFINITIONS.c.version).label("version"))
    .group_by(_DEFINITIONS.c.key)
    .subquery()
)
_LATEST_IDS = (
    select(_DEFINITIONS.c.id)
    .join(
        _LATEST,
        (_DEFINITIONS.c.key == _LATEST.c.key) & (_DEFINITIONS.c.version == _LATEST.c.version),
    )
    .order_by(_DEFINITIONS.c.id)
)
_COLUMNS = (
    _DEFINITIONS.c.id,
    _DEFINITIONS.c.key,
    _DEFINITIONS.c.version,
    _DEFINITIONS.c.name,
    _DEFINITIONS.c.executable,
    _DEFINITIONS.c.catalog,
)


@dataclass(frozen=True)
class PowerElement:
    """An activity of a process exercising a power."""

    element_id: str
    name: str
    tag: str
    roles: list[str]
    time_limit: dict[str, Any] | None
    risk: dict[str, Any] | None


@dataclass(frozen=True)
class PowerProcess:
    """The latest version of a process that exercises a power item."""

    key: str
    version: int
    name: str
    definition_id: int
    executable: bool
    legal_basis: list[str]
    responsible_roles: list[str]
    boundary: dict[str, Any] | None
    time_limits: dict[str, Any]
    elements: list[PowerElement]


@dataclass
class PowerItem:
    """One item of the power list and the processes that exercise it."""

    code: str
    name: str = ""
    category: str | None = None
    legal_basis: list[str] = field(default_factory=list)
    responsible_roles: list[str] = field(default_factory=list)
    boundary: dict[str, Any] | None = None
    time_limits: dict[str, Any] = field(default_factory=dict)
    processes: list[PowerProcess] = field(default_factory=list)

    def add(self, item: dict[str, Any], process: PowerProcess) -> None:
        """Merge a process in: the first process (by key) that says something wins."""
        self.processes.append(process)
        self.name = self.name or item.get("name") or ""
        self.category = self.category or item.get("category")
        self.boundary = self.boundary or item.get("boundary")
        _extend(self.legal_basis, process.legal_basis)
        _extend(self.responsible_roles, process.responsible_roles)
        for kind, limit in process.time_limits.items():
            self.time_limits.setdefault(kind, limit)


def _extend(into: list[str], values: list[str]) -> None:
    into.extend(v for v in values if v not in into)


def _process(row: Any) -> tuple[dict[str, Any], PowerProcess] | None:
    """The power item a definition declares and what the list shows of it (None if none)."""
    catalog: dict[str, Any] = row.catalog or {}
    meta: dict[str, Any] = catalog.get("process") or {}
    item = meta.get("power_item")
    if not item:
        return None
    elements = [
        PowerElement(
            element_id=e["element_id"],
            name=e.get("name") or e["element_id"],
            tag=e.get("tag", ""),
            roles=list(e.get("roles") or []),
            time_limit=(e.get("metadata") or {}).get("time_limit"),
            risk=(e.get("metadata") or {}).get("risk"),
        )
        for e in (catalog.get("elements") or {}).values()
    ]
    elements.sort(key=lambda e: e.element_id)
    roles = list(meta.get("responsible_roles") or [])
    if not roles:  # no owner declared: whoever does the process's human tasks answers for it
        for element in elements:
            if element.tag in HUMAN_TASK_TAGS:
                _extend(roles, element.roles)
    limits = meta.get("time_limits")
    if limits is None and meta.get("time_limit"):  # deployed before kinds could be combined
        limits = {meta["time_limit"].get("kind", "step"): meta["time_limit"]}
    process = PowerProcess(
        key=row.key,
        version=row.version,
        name=row.name,
        definition_id=row.id,
        executable=bool(row.executable),
        legal_basis=list(meta.get("legal_basis") or []),
        responsible_roles=roles,
        boundary=item.get("boundary"),
        time_limits=dict(limits or {}),
        elements=elements,
    )
    return item, process


def power_list(store: Store, principal: Principal) -> list[PowerItem]:
    """Every power item the latest deployed processes exercise, by code (any signed-in user)."""
    with store.begin(write=False) as conn:
        ids = tuple(conn.scalars(_LATEST_IDS))
        cache_key = ("powers", ids)
        hit = store.immutable_cache.get(cache_key)
        if hit is not None:
            return cast(list[PowerItem], hit)
        rows = conn.execute(
            select(*_COLUMNS).where(_DEFINITIONS.c.id.in_(ids)).order_by(_DEFINITIONS.c.key)
        ).all()
    items: dict[str, PowerItem] = {}
    for row in rows:
        found = _process(row)
        if found is not None:
            item, process = found
            items.setdefault(item["code"], PowerItem(item["code"])).add(item, process)
    result = [items[code] for code in sorted(items)]
    if len(store.immutable_cache) > 10_000:
        store.immutable_cache.clear()
    store.immutable_cache[cache_key] = result
    return result


def power_item(store: Store, principal: Principal, code: str) -> PowerItem:
    """One item of the power list, or NotFound with a sentence."""
    for item in power_list(store, principal):
        if item.code == code:
            return item
    raise NotFound(
        f"No deployed process exercises the power item '{code}'; GET /v1/powers lists those "
        "that are."
    )
