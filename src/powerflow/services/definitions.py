"""Deploying BPMN files and reading definitions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from powerflow import engine
from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import Definition, Deployment
from powerflow.services.auth import Principal
from powerflow.services.errors import (
    Conflict,
    Forbidden,
    InvalidDefinition,
    NotFound,
    PayloadTooLarge,
)
from powerflow.services.start_schedule import schedule_deployed
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
    )


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


def runnable(conn: Connection, definition: DefinitionView) -> engine.LoadedProcess:
    """The parsed spec of a definition, reading its XML only when the spec is not cached."""
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
    store: Store, data: bytes, filename: str, principal: Principal, *, max_bytes: int
) -> DeployOutcome:
    """Validate an upload and deploy a new version of each process in it.

    Identical content deploys nothing new (``created`` is False). A file without executable
    processes is stored for viewing; its definitions say why they cannot be started.
    """
    if not principal.has(*DEPLOY_ROLES):
        raise Forbidden("Deploying process definitions needs the 'designer' role.")
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{filename} is {len(data)} bytes; the limit is {max_bytes} bytes.", file=filename
        )
    result = engine.compile_bpmn(data, filename, max_bytes=max_bytes)
    if not result.ok:
        errors = [p.as_dict() for p in result.problems if p.severity == "error"]
        raise InvalidDefinition(
            f"{filename} cannot be deployed: {len(errors)} problem(s) found. "
            f"First: {errors[0]['message']}",
            problems=errors,
            file=filename,
        )
    try:
        with store.write() as session:
            existing = session.scalar(
                select(Deployment).where(Deployment.content_hash == result.content_hash)
            )
            if existing is not None:
                rows = session.scalars(
                    select(Definition)
                    .where(Definition.deployment_id == existing.id)
                    .order_by(Definition.id)
                ).all()
                names = ", ".join(f"{r.key} v{r.version}" for r in rows)
                return DeployOutcome(
                    created=False,
                    message=f"Identical content was already deployed ({names}); nothing new.",
                    definitions=[_view(r) for r in rows],
                )
            deployment = Deployment(
                content_hash=result.content_hash,
                filename=filename[:255],
                xml=data,
                deployed_by=principal.name,
            )
            session.add(deployment)
            session.flush()
            created = []
            for process in result.processes:
                latest = session.scalar(
                    select(func.max(Definition.version)).where(Definition.key == process.process_id)
                )
                row = Definition(
                    key=process.process_id,
                    version=(latest or 0) + 1,
                    name=process.name[:255],
                    deployment_id=deployment.id,
                    content_hash=result.content_hash,
                    executable=process.executable,
                    not_executable_reason=process.not_executable_reason,
                    catalog=process.catalog(),
                    warnings=[w.as_dict() for w in process.warnings],
                    deployed_by=principal.name,
                )
                session.add(row)
                created.append(row)
            session.flush()
            schedule_deployed(
                session.connection(), [(r.id, r.key, r.catalog) for r in created], store.now()
            )
            views = [_view(r) for r in created]
    except IntegrityError:
        raise Conflict(
            "Another upload of the same process was deployed at the same moment; retry."
        ) from None
    startable = [v for v in views if v.executable]
    viewing = [v for v in views if not v.executable]
    if startable:
        message = "Deployed " + ", ".join(f"{v.key} v{v.version}" for v in startable) + "."
        if viewing:
            message += (
                " Stored for viewing only (cannot be started; each definition says why): "
                + ", ".join(f"{v.key} v{v.version}" for v in viewing)
                + "."
            )
    else:
        message = (
            "Stored for viewing only: the file has no process powerflow can run, so it cannot be "
            "started; each definition says why (not_executable_reason)."
        )
    return DeployOutcome(created=True, message=message, definitions=views)


def list_latest(store: Store, *, limit: int, offset: int) -> Page:
    """The latest version of every process key."""
    with store.read() as session:
        latest = (
            select(Definition.key, func.max(Definition.version).label("v"))
            .group_by(Definition.key)
            .subquery()
        )
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
