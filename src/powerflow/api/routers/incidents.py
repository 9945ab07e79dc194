"""Incidents and what an administrator does about them: retry, skip, move a token, migrate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.incident_schemas import (
    IncidentPage,
    IncidentRead,
    InstanceMigrate,
    InstanceRetry,
    InstanceSkip,
    MigrationRead,
    TokenMove,
)
from powerflow.api.schemas import INT32_MAX, InstanceRead
from powerflow.services import recovery
from powerflow.services.views import InstanceView, Page

router = APIRouter(tags=["incidents"])

NOT_FOUND = "Unknown instance, or an instance the caller is not involved in"
ACT_ERRORS = documented(
    not_found=NOT_FOUND,
    forbidden="Needs the admin role",
    conflict="Not possible in the instance's current state (the detail says why)",
    invalid="Invalid body: a missing reason, variables that are not plain JSON",
    busy=True,
)
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX)]


def _read(view: InstanceView) -> InstanceRead:
    return InstanceRead.model_validate(view, from_attributes=True)


def _page(page: Page) -> IncidentPage:
    return IncidentPage(
        items=[IncidentRead.model_validate(i, from_attributes=True) for i in page.items],
        limit=page.limit,
        offset=page.offset,
        has_more=page.has_more,
    )


@router.get(
    "/v1/incidents",
    response_model=IncidentPage,
    responses=documented(
        not_found=NOT_FOUND, forbidden="Needs the monitor or admin role", invalid="Bad filter"
    ),
    summary="List incidents",
)
async def list_incidents(
    store: StoreDep,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    definition_key: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> IncidentPage:
    """Incidents of every instance, newest first (monitor, admin): ``status=open`` is the
    list of instances waiting for an administrator."""
    page = await call(
        store,
        recovery.list_incidents,
        store,
        principal,
        status=status,
        definition_key=definition_key,
        limit=limit,
        offset=offset,
    )
    return _page(page)


@router.get(
    "/v1/instances/{instance_id}/incidents",
    response_model=IncidentPage,
    responses=documented(not_found=NOT_FOUND),
    summary="The incident history of an instance",
)
async def instance_incidents(
    instance_id: str,
    store: StoreDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> IncidentPage:
    """Every incident of an instance the caller may see, newest first, with its resolution."""
    page = await call(
        store, recovery.incidents_of, store, principal, instance_id, limit=limit, offset=offset
    )
    return _page(page)


@router.post(
    "/v1/instances/{instance_id}/retry",
    response_model=InstanceRead,
    responses=ACT_ERRORS,
    summary="Retry the failed element of a parked instance",
)
async def retry(
    instance_id: str, body: InstanceRetry, store: StoreDep, principal: PrincipalDep
) -> InstanceRead:
    """Merge the corrected variables into the failed task and run it again (admin). If it
    fails again the instance stays parked with a new incident (200, status failed)."""
    view = await call(
        store,
        recovery.retry,
        store,
        principal,
        instance_id,
        variables=body.variables,
        reason=body.reason,
    )
    return _read(view)


@router.post(
    "/v1/instances/{instance_id}/skip",
    response_model=InstanceRead,
    responses=ACT_ERRORS,
    summary="Skip the failed element of a parked instance",
)
async def skip(
    instance_id: str, body: InstanceSkip, store: StoreDep, principal: PrincipalDep
) -> InstanceRead:
    """Complete the failed element without running it, and run on (admin; not a gateway)."""
    view = await call(store, recovery.skip, store, principal, instance_id, reason=body.reason)
    return _read(view)


@router.post(
    "/v1/instances/{instance_id}/move",
    response_model=InstanceRead,
    responses=ACT_ERRORS,
    summary="Move the token back to an earlier element",
)
async def move(
    instance_id: str, body: TokenMove, store: StoreDep, principal: PrincipalDep
) -> InstanceRead:
    """Reset the instance to the most recent task of an element it has passed (admin): what
    came after is undone, the element runs again, its tasks reopen in the inbox."""
    view = await call(
        store,
        recovery.move,
        store,
        principal,
        instance_id,
        to_element=body.to_element,
        from_element=body.from_element,
        reason=body.reason,
    )
    return _read(view)


@router.post(
    "/v1/instances/{instance_id}/migrate",
    response_model=MigrationRead,
    responses=ACT_ERRORS,
    summary="Migrate an instance to another version of its definition",
)
async def migrate(
    instance_id: str, body: InstanceMigrate, store: StoreDep, principal: PrincipalDep
) -> MigrationRead:
    """Align the instance with another version (admin). ``dry_run`` only says what would
    change; a migration the engine cannot align is refused with 409 and the same plan."""
    result = await call(
        store,
        recovery.migrate,
        store,
        principal,
        instance_id,
        to_version=body.to_version,
        dry_run=body.dry_run,
        reason=body.reason,
    )
    return MigrationRead(
        dry_run=result.dry_run,
        from_version=result.from_version,
        to_version=result.to_version,
        instance=_read(result.instance) if result.instance is not None else None,
        **result.plan.as_dict(),
    )
