"""/v1/instances: start, read, cancel instances; their events; messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from powerflow.api.deps import PrincipalDep, StoreDep, call, json_response
from powerflow.api.errors import documented
from powerflow.api.instance_reads import instance_read
from powerflow.api.schemas import (
    INT32_MAX,
    AuditRead,
    EventRead,
    InstanceCancel,
    InstanceCreate,
    InstanceRead,
    MessageSend,
    Page,
)
from powerflow.db.engine import Store
from powerflow.services import audit, instances
from powerflow.services.auth import Principal
from powerflow.services.views import InstanceView

router = APIRouter(prefix="/v1/instances", tags=["instances"])

NOT_FOUND = "Unknown instance or definition, or an instance the caller is not involved in"
GONE = "The instance was archived (read-only; the answer names GET /v1/archive/instances/{id})"
ERRORS = documented(not_found=NOT_FOUND, gone=GONE)

WRITE_ERRORS = documented(
    not_found=NOT_FOUND,
    conflict="Not possible in the instance's current state",
    invalid="Invalid input",
    busy=True,
    gone=GONE,
)
Status = Annotated[str | None, Query(pattern="^(running|suspended|completed|failed|cancelled)$")]


def _read(view: InstanceView) -> InstanceRead:
    return instance_read(view)


@router.post(
    "",
    status_code=201,
    response_model=InstanceRead,
    responses=WRITE_ERRORS,
    summary="Start an instance",
)
async def start_instance(
    body: InstanceCreate, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Start the latest (or given) version and run it to its first wait state."""
    view = await call(
        store,
        instances.start_instance,
        store,
        principal,
        body.definition_key,
        business_key=body.business_key,
        variables=body.variables,
        version=body.version,
    )
    return json_response(_read(view), status_code=201)


@router.get("", response_model=Page[InstanceRead], responses=ERRORS, summary="List instances")
async def list_instances(
    store: StoreDep,
    principal: PrincipalDep,
    definition_key: str | None = None,
    status: Status = None,
    business_key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> Page[InstanceRead]:
    """Instances the caller may see (involved in, or every one for monitor, auditor, admin),
    newest first."""
    page = await call(
        store,
        instances.list_instances,
        store,
        principal,
        definition_key=definition_key,
        status=status,
        business_key=business_key,
        limit=limit,
        offset=offset,
    )
    return Page[InstanceRead](
        items=[_read(v) for v in page.items], limit=limit, offset=offset, has_more=page.has_more
    )


@router.get(
    "/{instance_id}",
    response_model=InstanceRead,
    responses=ERRORS,
    summary="One instance with its ready tasks",
)
async def get_instance(instance_id: str, store: StoreDep, principal: PrincipalDep) -> InstanceRead:
    """One instance with its ready tasks."""
    return _read(await call(store, instances.get_instance, store, principal, instance_id))


@router.post(
    "/{instance_id}/cancel",
    response_model=InstanceRead,
    responses=WRITE_ERRORS,
    summary="Cancel an instance",
)
async def cancel_instance(
    instance_id: str, store: StoreDep, principal: PrincipalDep, body: InstanceCancel | None = None
) -> InstanceRead:
    """Cancel a running instance; its open tasks are closed."""
    reason = body.reason if body else None
    return _read(
        await call(store, instances.cancel_instance, store, principal, instance_id, reason)
    )


@router.post(
    "/{instance_id}/suspend",
    response_model=InstanceRead,
    responses=WRITE_ERRORS,
    summary="Suspend an instance",
)
async def suspend_instance(
    instance_id: str, store: StoreDep, principal: PrincipalDep, body: InstanceCancel | None = None
) -> InstanceRead:
    """Stop an instance from advancing (monitor, admin): no task, timer or message moves it."""
    return await _set_suspended(store, principal, instance_id, body, suspend=True)


@router.post(
    "/{instance_id}/resume",
    response_model=InstanceRead,
    responses=WRITE_ERRORS,
    summary="Resume a suspended instance",
)
async def resume_instance(
    instance_id: str, store: StoreDep, principal: PrincipalDep, body: InstanceCancel | None = None
) -> InstanceRead:
    """Let a suspended instance advance again (monitor, admin)."""
    return await _set_suspended(store, principal, instance_id, body, suspend=False)


async def _set_suspended(
    store: Store,
    principal: Principal,
    instance_id: str,
    body: InstanceCancel | None,
    *,
    suspend: bool,
) -> InstanceRead:
    reason = body.reason if body else None
    view = await call(
        store,
        instances.set_suspended,
        store,
        principal,
        instance_id,
        suspend=suspend,
        reason=reason,
    )
    return _read(view)


@router.post(
    "/{instance_id}/messages",
    response_model=InstanceRead,
    responses=WRITE_ERRORS,
    summary="Deliver a message to an instance",
)
async def send_message(
    instance_id: str, body: MessageSend, store: StoreDep, principal: PrincipalDep
) -> InstanceRead:
    """Deliver a BPMN message the instance waits for."""
    view = await call(
        store, instances.deliver_message, store, principal, instance_id, body.name, body.payload
    )
    return _read(view)


@router.get(
    "/{instance_id}/events",
    response_model=Page[EventRead],
    responses=ERRORS,
    summary="The recorded steps of an instance",
)
async def get_events(
    instance_id: str,
    store: StoreDep,
    principal: PrincipalDep,
    after: Annotated[
        int, Query(ge=0, le=INT32_MAX, description="Return events with seq greater than this")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Page[EventRead]:
    """Every recorded step of an instance, in order."""
    page = await call(
        store, instances.events_of, store, principal, instance_id, after=after, limit=limit
    )
    return Page[EventRead](
        items=[EventRead.model_validate(e, from_attributes=True) for e in page.items],
        limit=limit,
        offset=after,
        has_more=page.has_more,
    )


@router.get(
    "/{instance_id}/audit",
    response_model=AuditRead,
    responses=ERRORS,
    summary="The instance's audit trail, verified",
)
async def get_audit(instance_id: str, store: StoreDep, principal: PrincipalDep) -> AuditRead:
    """Every recorded step with the result of checking its hash chain."""
    trail = await call(store, audit.trail, store, principal, instance_id)
    return AuditRead.model_validate(trail, from_attributes=True)


@router.get(
    "/{instance_id}/audit.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **ERRORS},
    summary="The instance's audit trail as CSV",
)
async def get_audit_csv(instance_id: str, store: StoreDep, principal: PrincipalDep) -> Response:
    """The trail as CSV (one event a row); the header X-Audit-Verified says if it verifies."""
    trail = await call(store, audit.trail, store, principal, instance_id)
    return Response(
        audit.as_csv(trail),
        media_type="text/csv",
        headers={
            "X-Audit-Verified": "true" if trail.verified else "false",
            "Content-Disposition": f'attachment; filename="audit-{instance_id}.csv"',
        },
    )
