"""Deploying BPMN files and reading definitions."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, select

from powerflow import engine
from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import Definition
from powerflow.services.auth import Principal
from powerflow.services.errors import (
    NotFound,
)
from powerflow.services.views import DefinitionView, DeployOutcome, Page

DEPLOY_ROLES = ("designer", "admin")


class BpmnFileMissing(NotFound):
    """A definition's stored BPMN file is gone: a fault of the deployment that waiting will
    not cure (its instances cannot run until the file is restored)."""


def _view(row: Definition | Any) -> DefinitionView:
    return DefinitionView(
        id=row.id,
        key=row.key,
        version=row.version,
        name=row.name,
        executable=row.executable,
        not_executable_reason=row.not_executable_reason,
        content_hash=row.content_hash,
        deployment_id=row.deployment_id,
        deployed_by=row.deployed_by,
        deployed_at=row.deployed_at,
        catalog=row.catalog,
        warnings=list(row.warnings),
        kind=getattr(row, "kind", None) or "process",
    )


def view_of(row: dict[str, Any]) -> DefinitionView:
    """The view of a definitions row read as a mapping (``queries.definition_row``)."""
    return _view(SimpleNamespace(**row))


def view_of_row(row: Definition) -> DefinitionView:
    """The view of a definitions ORM row."""
    return _view(row)


def definition_by_id(store: Store, conn: Connection, definition_id: int) -> DefinitionView:
    """A definition by id; definitions never change once written, so they are cached."""
    key = ("definition", definition_id)
    hit = store.immutable_cache.get(key)
    if isinstance(hit, DefinitionView):
        return hit
    row = queries.definition_row(conn, definition_id)
    if row is None:
        raise NotFound(f"Definition {definition_id} does not exist.")
    view = _view(SimpleNamespace(**row))
    if len(store.immutable_cache) > 10_000:
        store.immutable_cache.clear()
    store.immutable_cache[key] = view
    return view


def definitions_by_ids(
    store: Store, conn: Connection, definition_ids: Iterable[int]
) -> dict[int, DefinitionView]:
    """Definitions by id, those not cached read in one statement (unknown ids are left out)."""
    found: dict[int, DefinitionView] = {}
    missing: list[int] = []
    for definition_id in set(definition_ids):
        hit = store.immutable_cache.get(("definition", definition_id))
        if isinstance(hit, DefinitionView):
            found[definition_id] = hit
        else:
            missing.append(definition_id)
    if missing:
        if len(store.immutable_cache) > 10_000:
            store.immutable_cache.clear()
        for row in queries.definition_rows(conn, sorted(missing)):
            view = _view(SimpleNamespace(**row))
            store.immutable_cache[("definition", view.id)] = view
            found[view.id] = view
    return found


def runnable(
    conn: Connection, definition: DefinitionView, state: str | None = None
) -> engine.LoadedProcess:
    """The parsed spec of a definition, reading its XML only when the spec is not cached; with
    an instance's saved ``state``, bound to the called specs and decisions that state names
    (services/calls.py), else to the latest decisions its business rule tasks evaluate."""
    refs = engine.bound_refs(state) if state else {}
    if refs or definition.catalog.get("decisions"):
        from powerflow.services.calls import bound_runnable  # calls.py builds on this module

        return bound_runnable(conn, definition, refs)
    return load_plain(conn, definition)


def load_plain(conn: Connection, definition: DefinitionView) -> engine.LoadedProcess:
    """The parsed spec of a definition that evaluates no decision table."""
    cached = engine.cached_process(definition.content_hash, definition.key)
    if cached is not None:
        return cached
    xml = queries.deployment_xml(conn, definition.deployment_id)
    if xml is None:
        raise BpmnFileMissing(
            f"The BPMN file of {definition.key} v{definition.version} is missing."
        )
    return engine.load_process(definition.content_hash, definition.key, xml, definition.catalog)


def deploy(
    store: Store,
    data: bytes,
    filename: str,
    principal: Principal,
    *,
    max_bytes: int,
    purpose: engine.Purpose = "deploy",
    accept_any_data: bool = False,
) -> DeployOutcome:
    """Validate an upload and deploy a new version of each process (or decision) in it.

    Identical content deploys nothing new (``created`` is False). A file without executable
    processes is stored for viewing; its definitions say why they cannot be started. One file
    of a bundle: see ``services/deployment.deploy_files``. ``purpose`` and
    ``accept_any_data``: see engine/purpose.py.
    """
    from powerflow.services.deployment import Upload, deploy_files  # builds on this module

    return deploy_files(
        store,
        [Upload(filename, data)],
        principal,
        max_bytes=max_bytes,
        purpose=purpose,
        accept_any_data=accept_any_data,
    )


def index_for_router(session: Any, views: list[DefinitionView]) -> None:
    """Message and signal start events of new versions, for the message router (called by
    ``deployment.deploy_files`` in the deploying transaction)."""
    from powerflow.services.messages import index_for_router  # messages imports this module

    conn = queries.connection(session)
    for view in views:
        index_for_router(conn, view)


def list_latest(store: Store, *, limit: int, offset: int, kind: str | None = None) -> Page:
    """The latest version of every key (processes and decision tables, or one ``kind``)."""
    with store.read() as session:
        keys = select(Definition.key, func.max(Definition.version).label("v"))
        if kind is not None:
            keys = keys.where(Definition.kind == kind)
        latest = keys.group_by(Definition.key).subquery()
        rows = session.scalars(
            select(Definition)
            .join(latest, (Definition.key == latest.c.key) & (Definition.version == latest.c.v))
            .order_by(Definition.key)
            .limit(limit + 1)
            .offset(offset)
        ).all()
    return Page([_view(r) for r in rows[:limit]], limit, offset, len(rows) > limit)


def versions(store: Store, key: str) -> list[DefinitionView]:
    """Every version of a process key, newest first."""
    with store.read() as session:
        rows = session.scalars(
            select(Definition).where(Definition.key == key).order_by(Definition.version.desc())
        ).all()
    if not rows:
        raise NotFound(f"No process definition with key '{key}' has been deployed.")
    return [_view(r) for r in rows]


def resolve(store: Store, conn: Connection, key: str, version: int | None) -> DefinitionView:
    """The given version of a key, or its latest version (one indexed id lookup, then the
    immutable-definition cache)."""
    found = queries.definition_id(conn, key, version)
    if found is None:
        if version is None:
            raise NotFound(f"No process definition with key '{key}' has been deployed.")
        raise NotFound(f"Process definition '{key}' has no version {version}.")
    return definition_by_id(store, conn, found)


def xml_of(store: Store, key: str, version: int | None) -> tuple[DefinitionView, bytes]:
    """The BPMN XML a definition version was deployed from."""
    with store.begin(write=False) as conn:
        view = resolve(store, conn, key, version)
        xml = queries.deployment_xml(conn, view.deployment_id)
    return view, xml or b""
