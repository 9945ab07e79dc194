"""/v1/alerts, /v1/alert-profiles and deadline extensions: the power layer's time limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from powerflow.api.alert_schemas import (
    AlertAcknowledge,
    AlertPage,
    AlertProfileBody,
    AlertProfileRead,
    AlertRead,
    DeadlineExtension,
    TimeBound,
)
from powerflow.api.deps import PrincipalDep, StoreDep, call, json_response
from powerflow.api.errors import documented
from powerflow.api.schemas import INT32_MAX, InstanceRead
from powerflow.services.power import alert_list, extensions, profiles

router = APIRouter(tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=INT32_MAX)]
ProfileName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
ALERT_ERRORS = documented(
    not_found="Unknown alert, or one of an instance the caller is not involved in",
    forbidden="Acknowledging needs the monitor or admin role",
    conflict="The alert is not open",
    invalid="Invalid filter",
)


@router.get("/v1/alerts", response_model=AlertPage, responses=ALERT_ERRORS, summary="List alerts")
async def list_alerts(
    store: StoreDep,
    principal: PrincipalDep,
    state: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    level: Annotated[str | None, Query(pattern="^(prompt|yellow|red)$")] = None,
    definition_key: Annotated[str | None, Query(max_length=255)] = None,
    instance_id: Annotated[str | None, Query(max_length=36)] = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
    since: TimeBound = None,
    until: TimeBound = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> AlertPage:
    """Alerts of the instances the caller may see (every alert for monitor, auditor, admin),
    newest first; ``since``/``until`` bound the time raised."""
    page = await call(
        store,
        alert_list.list_alerts,
        store,
        principal,
        state=state,
        level=level,
        definition_key=definition_key,
        instance_id=instance_id,
        role=role,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return AlertPage.model_validate(page, from_attributes=True)


@router.get(
    "/v1/alerts/{alert_id}", response_model=AlertRead, responses=ALERT_ERRORS, summary="One alert"
)
async def get_alert(alert_id: AlertId, store: StoreDep, principal: PrincipalDep) -> AlertRead:
    """One alert, if the caller may see its instance."""
    view = await call(store, alert_list.get_alert, store, principal, alert_id)
    return AlertRead.model_validate(view, from_attributes=True)


@router.post(
    "/v1/alerts/{alert_id}/acknowledge",
    response_model=AlertRead,
    responses=ALERT_ERRORS,
    summary="Acknowledge an alert",
)
async def acknowledge_alert(
    alert_id: AlertId, body: AlertAcknowledge, store: StoreDep, principal: PrincipalDep
) -> AlertRead:
    """Mark an open alert acknowledged, with a comment (monitor, admin)."""
    view = await call(store, alert_list.acknowledge, store, principal, alert_id, body.comment)
    return AlertRead.model_validate(view, from_attributes=True)


PROFILE_ERRORS = documented(
    not_found="Unknown profile", forbidden="Editing needs the admin role", invalid="Bad profile"
)


@router.get(
    "/v1/alert-profiles",
    response_model=list[AlertProfileRead],
    responses=PROFILE_ERRORS,
    summary="List alert profiles",
)
async def list_profiles(store: StoreDep, principal: PrincipalDep) -> list[AlertProfileRead]:
    """Every alert profile with its thresholds (any authenticated user)."""
    items = await call(store, profiles.list_profiles, store)
    return [AlertProfileRead.model_validate(p) for p in items]


@router.get(
    "/v1/alert-profiles/{name}",
    response_model=AlertProfileRead,
    responses=PROFILE_ERRORS,
    summary="One alert profile",
)
async def get_profile(
    name: ProfileName, store: StoreDep, principal: PrincipalDep
) -> AlertProfileRead:
    """One alert profile."""
    return AlertProfileRead.model_validate(await call(store, profiles.get_profile, store, name))


@router.put(
    "/v1/alert-profiles/{name}",
    response_model=AlertProfileRead,
    responses={**PROFILE_ERRORS, 201: {"description": "Created"}},
    summary="Create or replace an alert profile",
)
async def put_profile(
    name: ProfileName, body: AlertProfileBody, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Create (201) or replace (200) a profile (admin); processes pick it by name."""
    profile, created = await call(
        store, profiles.put_profile, store, principal, name, body.model_dump()
    )
    return json_response(
        AlertProfileRead.model_validate(profile), status_code=201 if created else 200
    )


EXTENSION_ERRORS = documented(
    not_found="Unknown instance, or one the caller is not involved in",
    forbidden="Caller is neither the limit's extension approver nor an administrator",
    conflict="No such limit, not extendable, or the instance has ended",
    invalid="Duration beyond what the limit allows",
    busy=True,
)


@router.post(
    "/v1/instances/{instance_id}/deadline-extensions",
    response_model=InstanceRead,
    responses=EXTENSION_ERRORS,
    summary="Extend a deadline",
)
async def extend_deadline(
    instance_id: str,
    body: DeadlineExtension,
    store: StoreDep,
    principal: PrincipalDep,
) -> Response:
    """Move the case's promised or statutory deadline, or an open task's step deadline, later
    by ``duration`` (at most the limit's ``extendable`` in total), recording who approved and
    why (``deadline.extended``)."""
    view = await call(
        store,
        extensions.extend_deadline,
        store,
        principal,
        instance_id,
        limit=body.limit,
        duration=body.duration,
        reason=body.reason,
        task_id=body.task_id,
    )
    return json_response(InstanceRead.model_validate(view, from_attributes=True))
