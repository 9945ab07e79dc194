"""What the public may see (``/public/``): only what a process's model discloses.

- A process is public when its ``bpmn:process`` carries ``pf:disclosure public="true"``: its
  power-list entry, its steps and time limits, its legal basis and its BPMN file.
- Its instances' progress is public when that element also says ``progress="true"``: looked
  up by business key, it shows which steps are done and when, the current steps, the due
  dates and whether they are passed. No person, role, task id, instance id or data field
  appears, except the fields a step's own ``pf:disclosure public="true" fields="..."`` lists,
  once that step is done (and the process's own listed fields once the instance completed).
- Notices (services/supervision/notices.py) of public processes are listed and readable.

Everything else answers NotFound with the same sentence as an unknown key, so the public
cannot tell an undisclosed process from one that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select

from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import Definition, Instance, Notice, Task
from powerflow.db.queries import OPEN_TASK_STATES
from powerflow.services.auth import Principal
from powerflow.services.definitions import definition_by_id, definitions_by_ids
from powerflow.services.errors import NotFound
from powerflow.services.incidents import PARKED
from powerflow.services.power import powers
from powerflow.services.supervision import notices
from powerflow.services.views import DefinitionView

PUBLIC = Principal("public", frozenset())
RECENT = timedelta(days=90)
LIST_LIMIT = 200
_INSTANCES = cast(Table, Instance.__table__)
_TASKS = cast(Table, Task.__table__)
_NOTICES = cast(Table, Notice.__table__)
_DEFINITIONS = cast(Table, Definition.__table__)
HIDDEN_STATUS = {
    "running": "in_progress",
    "suspended": "in_progress",
    PARKED: "in_progress",  # parked at an incident ("failed"): not ended
    "completed": "completed",
}


def is_public(catalog: dict[str, Any]) -> bool:
    """Whether the process's model publishes it."""
    disclosure = (catalog.get("process") or {}).get("disclosure") or {}
    return bool(disclosure.get("public"))


def progress_public(catalog: dict[str, Any]) -> bool:
    """Whether the process's model publishes its instances' progress."""
    disclosure = (catalog.get("process") or {}).get("disclosure") or {}
    return bool(disclosure.get("public") and disclosure.get("progress"))


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _unknown_process(key: str) -> NotFound:
    return NotFound("No public process has this key; GET /public/powers lists them.")


def _latest(store: Store, conn: Connection, key: str) -> DefinitionView:
    definition_id = queries.definition_id(conn, key, None)
    if definition_id is None:
        raise _unknown_process(key)
    definition = definition_by_id(store, conn, definition_id)
    if definition.kind != "process" or not is_public(definition.catalog):
        raise _unknown_process(key)
    return definition


# ----------------------------------------------------------------- processes


def _limits(meta: dict[str, Any]) -> dict[str, Any]:
    limits = dict(meta.get("time_limits") or {})
    if not limits and meta.get("time_limit"):
        limits = {meta["time_limit"].get("kind", "step"): meta["time_limit"]}
    return {k: _limit(v) for k, v in limits.items()}


def _limit(limit: dict[str, Any] | None) -> dict[str, Any] | None:
    if not limit:
        return None
    return {"duration": limit.get("duration"), "calendar": limit.get("calendar")}


def public_powers(store: Store) -> list[dict[str, Any]]:
    """The power list of the public processes: item, legal basis, responsible roles (units,
    not people), time limits and processes (domain report 1.9: a power list is public)."""
    items = powers.power_list(store, PUBLIC)
    ids = tuple(p.definition_id for item in items for p in item.processes)
    key = ("public-powers", ids)  # definitions never change: the answer is kept per set
    hit = store.immutable_cache.get(key)
    if isinstance(hit, list):
        return hit
    declared: dict[int, dict[str, Any]] = {}  # public definition id -> its pf:powerItem
    with store.begin(write=False) as conn:
        for definition_id in ids:
            catalog = definition_by_id(store, conn, definition_id).catalog
            if is_public(catalog):
                declared[definition_id] = (catalog.get("process") or {}).get("power_item") or {}
    out: list[dict[str, Any]] = []
    for item in items:
        processes = [p for p in item.processes if p.definition_id in declared]
        if not processes:
            continue
        # the item as its public processes alone declare it: an undisclosed process sharing
        # the code adds nothing (its legal basis, roles, limits or wording stay internal)
        merged = powers.PowerItem(item.code)
        for process in processes:
            merged.add(declared[process.definition_id], process)
        out.append(
            {
                "code": merged.code,
                "name": merged.name,
                "category": merged.category,
                "legal_basis": merged.legal_basis,
                "responsible_roles": merged.responsible_roles,
                "time_limits": {k: _limit(v) for k, v in merged.time_limits.items()},
                "processes": [
                    {"key": p.key, "version": p.version, "name": p.name} for p in processes
                ],
            }
        )
    store.immutable_cache[key] = out
    return out


def public_process(store: Store, key: str) -> dict[str, Any]:
    """A public process: its name, legal basis, power item, time limits and steps."""
    with store.begin(write=False) as conn:
        definition = _latest(store, conn, key)
        whole_file = _whole_file_public(store, conn, definition)
    meta = definition.catalog.get("process") or {}
    item = meta.get("power_item") or None
    steps = [
        {
            "element_id": element_id,
            "name": element.get("name") or element_id,
            "time_limit": _limit((element.get("metadata") or {}).get("time_limit")),
            "risk": (element.get("metadata") or {}).get("risk"),
            "notice": _notice_spec((element.get("metadata") or {}).get("notice")),
            "published_fields": _step_fields(element),
        }
        for element_id, element in (definition.catalog.get("elements") or {}).items()
        if element.get("tag") in notices.HUMAN_TAGS or (element.get("metadata") or {}).get("notice")
    ]
    steps.sort(key=lambda s: (_position(definition, s["element_id"]), s["element_id"]))
    return {
        "key": definition.key,
        "version": definition.version,
        "name": definition.name,
        "legal_basis": list(meta.get("legal_basis") or []),
        "power_item": {k: item.get(k) for k in ("code", "name", "category")} if item else None,
        "time_limits": _limits(meta),
        "progress_public": progress_public(definition.catalog),
        "steps": steps,
        "diagram": f"/public/processes/{definition.key}/diagram" if whole_file else None,
    }


def _position(definition: DefinitionView, element_id: str) -> int:
    element = (definition.catalog.get("elements") or {}).get(element_id) or {}
    position = element.get("position")
    return int(position) if isinstance(position, int) else 1 << 30


def _notice_spec(notice: dict[str, Any] | None) -> dict[str, Any] | None:
    if not notice:
        return None
    return {
        "period": notice["period"],
        "calendar": notice["calendar"],
        "fields": list(notice["fields"]),
        "objections": notice.get("objection_message") is not None,
    }


def _step_fields(element: dict[str, Any]) -> list[str]:
    disclosure = (element.get("metadata") or {}).get("disclosure") or {}
    return list(disclosure.get("fields") or []) if disclosure.get("public") else []


def _whole_file_public(store: Store, conn: Connection, definition: DefinitionView) -> bool:
    """Whether every process and decision deployed from the definition's file is public: the
    file is served as it was uploaded, so one undisclosed process in it keeps it unpublished
    (cached: a deployment never changes)."""
    key = ("public-diagram", definition.deployment_id)
    hit = store.immutable_cache.get(key)
    if isinstance(hit, bool):
        return hit
    ids = conn.execute(
        select(_DEFINITIONS.c.id).where(_DEFINITIONS.c.deployment_id == definition.deployment_id)
    ).scalars()
    whole = all(
        (found := definition_by_id(store, conn, int(i))).kind == "process"
        and is_public(found.catalog)
        for i in ids
    )
    store.immutable_cache[key] = whole
    return whole


def diagram(store: Store, key: str) -> bytes:
    """The BPMN file of the public process's latest version, as deployed; NotFound when the
    file also holds processes (or decisions) that are not public."""
    with store.begin(write=False) as conn:
        definition = _latest(store, conn, key)
        if not _whole_file_public(store, conn, definition):
            raise NotFound(
                "This process's flow chart is not published: its file also holds processes "
                "that are not public."
            )
        xml = queries.deployment_xml(conn, definition.deployment_id)
    if xml is None:
        raise _unknown_process(key)
    return xml


# ----------------------------------------------------------------- progress


def progress(store: Store, key: str, business_key: str) -> dict[str, Any]:
    """The public progress of one instance of a process that publishes progress."""
    unknown = NotFound(
        "No published progress for this business key: either the process does not publish "
        "its progress or no case of it has this business key."
    )
    with store.begin(write=False) as conn:
        row = conn.execute(
            select(_INSTANCES.c.id, _INSTANCES.c.definition_id).where(
                _INSTANCES.c.definition_key == key, _INSTANCES.c.business_key == business_key
            )
        ).first()
        if row is None:
            raise unknown
        definition = definition_by_id(store, conn, row.definition_id)
        if not progress_public(definition.catalog):
            raise unknown
        instance = queries.load_instance(conn, row.id, lock=False)
        if instance is None:
            raise unknown
        tasks = conn.execute(
            select(
                _TASKS.c.element_id,
                _TASKS.c.name,
                _TASKS.c.state,
                _TASKS.c.created_at,
                _TASKS.c.due_at,
                _TASKS.c.ended_at,
            )
            .where(_TASKS.c.instance_id == instance.id)
            .order_by(_TASKS.c.created_at, _TASKS.c.id)
        ).all()
        notice_rows = conn.execute(
            select(_NOTICES.c.id, _NOTICES.c.ends_at)
            .where(_NOTICES.c.instance_id == instance.id)
            .order_by(_NOTICES.c.id)
        ).all()
    now = store.now()
    elements = definition.catalog.get("elements") or {}
    done = sorted(
        (t for t in tasks if t.state == "completed"),
        key=lambda t: (_aware(t.ended_at), _position(definition, t.element_id)),
    )
    results: dict[str, Any] = {}
    data = instance.data or {}
    for t in done:
        for field in _step_fields(elements.get(t.element_id) or {}):
            if field in data:
                results[field] = data[field]
    meta_disclosure = (definition.catalog.get("process") or {}).get("disclosure") or {}
    if instance.status == "completed":
        for field in meta_disclosure.get("fields") or []:
            if field in data:
                results[field] = data[field]
    due = {
        "promised": _aware(instance.promised_due_at),
        "statutory": _aware(instance.statutory_due_at),
    }
    end = _aware(instance.ended_at) or now
    return {
        "process_key": definition.key,
        "process_name": definition.name,
        "business_key": business_key,
        "status": HIDDEN_STATUS.get(instance.status, "ended"),
        "started_at": _aware(instance.created_at),
        "ended_at": _aware(instance.ended_at),
        "steps_done": [
            {"element_id": t.element_id, "name": t.name, "completed_at": _aware(t.ended_at)}
            for t in done
        ],
        "current_steps": [
            {
                "element_id": t.element_id,
                "name": t.name,
                "since": _aware(t.created_at),
                "due_at": _aware(t.due_at),
                "overdue": bool(t.due_at is not None and now > cast(datetime, _aware(t.due_at))),
            }
            for t in tasks
            if t.state in OPEN_TASK_STATES  # a step awaiting its countersignature is current
        ],
        "promised_due_at": due["promised"],
        "statutory_due_at": due["statutory"],
        "overdue": any(d is not None and end > d for d in due.values()),
        "results": results,
        "notices": [int(n.id) for n in notice_rows],
    }


# ----------------------------------------------------------------- notices


def _notice_case(store: Store, conn: Connection, instance_id: str) -> DefinitionView | None:
    """The notice's process if it is public; None for an undisclosed one."""
    found = conn.execute(
        select(_INSTANCES.c.definition_id).where(_INSTANCES.c.id == instance_id)
    ).first()
    if found is None:
        return None
    definition = definition_by_id(store, conn, int(found.definition_id))
    return definition if is_public(definition.catalog) else None


def _notice_view(row: Any, definition: DefinitionView, now: datetime) -> dict[str, Any]:
    state = notices.state(row, now)
    return {
        "id": int(row.id),
        "process_key": definition.key,
        "process_name": definition.name,
        "title": row.title,
        "fields": dict(row.fields or {}),
        "published_at": _aware(row.published_at),
        "ends_at": cast(datetime, _aware(row.ends_at)),
        "state": state,
        "withdrawn_at": _aware(row.withdrawn_at),
        "open": state == "open",
        "accepts_objections": state == "open",
    }


def list_notices(store: Store, *, closed: bool = False) -> list[dict[str, Any]]:
    """Open notices of public processes (ending soonest first); with ``closed``, those that
    ended in the last 90 days instead, their period run out or withdrawn (latest first). Two
    statements however many notices: the notices with their cases' definition ids, and the
    definitions not cached yet."""
    now = store.now()
    query = select(_NOTICES, _INSTANCES.c.definition_id).join(
        _INSTANCES, _INSTANCES.c.id == _NOTICES.c.instance_id
    )
    if closed:
        ended = func.coalesce(_NOTICES.c.withdrawn_at, _NOTICES.c.ends_at)
        query = query.where(ended <= now, ended > now - RECENT)
        query = query.order_by(ended.desc(), _NOTICES.c.id.desc())
    else:
        query = query.where(_NOTICES.c.ends_at > now, _NOTICES.c.withdrawn_at.is_(None))
        query = query.order_by(_NOTICES.c.ends_at, _NOTICES.c.id)
    with store.begin(write=False) as conn:
        rows = conn.execute(query.limit(LIST_LIMIT * 5)).all()
        definitions = definitions_by_ids(store, conn, (int(r.definition_id) for r in rows))
    out = []
    for row in rows:
        definition = definitions.get(int(row.definition_id))
        if definition is not None and is_public(definition.catalog):
            out.append(_notice_view(row, definition, now))
            if len(out) >= LIST_LIMIT:
                break
    return out


def get_notice(store: Store, notice_id: int) -> dict[str, Any]:
    """One notice of a public process."""
    with store.begin(write=False) as conn:
        row = conn.execute(select(_NOTICES).where(_NOTICES.c.id == notice_id)).first()
        definition = None if row is None else _notice_case(store, conn, row.instance_id)
    if row is None or definition is None:
        raise NotFound("There is no public notice with this id.")
    return _notice_view(row, definition, store.now())


def object_to(
    store: Store, notice_id: int, *, text: str, name: str | None, contact: str | None
) -> dict[str, Any]:
    """An objection to a public notice (services/supervision/notices.py)."""
    return notices.object_to(
        store,
        notice_id,
        text=text,
        name=name,
        contact=contact,
        disclosed=lambda conn, row: _notice_case(store, conn, row.instance_id) is not None,
    )
