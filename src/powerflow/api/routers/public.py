"""/public/: what the models disclose, without authentication and rate-limited per address;
and /v1/notices/{id}/objections for supervisors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from powerflow.api.deps import PrincipalDep, StoreDep, call, json_response
from powerflow.api.errors import documented
from powerflow.api.public_schemas import (
    ObjectionRead,
    ObjectionReceipt,
    ObjectionWrite,
    PublicNotice,
    PublicPower,
    PublicProcess,
    PublicProgress,
)
from powerflow.api.rate_limit import public_rate_limit
from powerflow.api.schemas import Problem
from powerflow.services.supervision import disclosure, notices

router = APIRouter(tags=["public"], dependencies=[Depends(public_rate_limit)])
supervision = APIRouter(tags=["public"])

TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Problem,
        "description": "Too many requests from this address; retry after Retry-After",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}


def _errors(not_found: str | None = None, **more: Any) -> dict[int | str, dict[str, Any]]:
    every = documented(not_found=not_found or "-", **more)
    wanted = {404} if not_found else set()
    wanted |= {code for code, key in ((409, "conflict"), (422, "invalid")) if more.get(key)}
    return {**{c: s for c, s in every.items() if c in wanted}, **TOO_MANY}


Key = Annotated[str, Path(min_length=1, max_length=255, description="The process key")]
BusinessKey = Annotated[
    str, Path(min_length=1, max_length=255, description="The case's business key")
]
NoticeId = Annotated[int, Path(ge=1, le=2**62, description="The notice id")]


@router.get(
    "/public/powers",
    response_model=list[PublicPower],
    responses=_errors(),
    summary="The public power list",
)
async def public_powers(store: StoreDep) -> Response:
    """The power items exercised by processes whose model discloses them
    (``pf:disclosure public="true"`` on the process)."""
    items = await call(store, disclosure.public_powers, store)
    return Response(_dump(list[PublicPower], items), media_type="application/json")


@router.get(
    "/public/processes/{key}",
    response_model=PublicProcess,
    responses=_errors("No public process has this key"),
    summary="A public process",
)
async def public_process(store: StoreDep, key: Key) -> Response:
    """Its legal basis, power item, time limits, steps (names, limits, notices, published
    fields) and where its flow chart is."""
    view = await call(store, disclosure.public_process, store, key)
    return json_response(PublicProcess.model_validate(view))


@router.get(
    "/public/processes/{key}/diagram",
    responses={
        200: {"content": {"application/xml": {}}, "description": "The BPMN file"},
        **_errors("No public process has this key"),
    },
    response_class=Response,
    summary="A public process's flow chart (BPMN XML)",
)
async def public_diagram(store: StoreDep, key: Key) -> Response:
    """The BPMN file of the process's latest version as it was deployed."""
    xml = await call(store, disclosure.diagram, store, key)
    return Response(xml, media_type="application/xml")


@router.get(
    "/public/progress/{key}/{business_key}",
    response_model=PublicProgress,
    responses=_errors("The process publishes no progress, or no case has this business key"),
    summary="The progress of a case",
)
async def public_progress(store: StoreDep, key: Key, business_key: BusinessKey) -> Response:
    """Steps done and when, current steps, due dates, and the disclosed result fields; for a
    process whose model says ``pf:disclosure public="true" progress="true"``."""
    view = await call(store, disclosure.progress, store, key, business_key)
    return json_response(PublicProgress.model_validate(view))


@router.get(
    "/public/notices",
    response_model=list[PublicNotice],
    responses=_errors(invalid="Invalid closed flag"),
    summary="Public notices",
)
async def public_notices(
    store: StoreDep,
    closed: Annotated[
        bool,
        Query(
            description="List notices that ended in the last 90 days instead (period run out, "
            "or withdrawn)"
        ),
    ] = False,
) -> Response:
    """Open notices of public processes, ending soonest first (at most 200); with
    ``closed=true``, those that ended in the last 90 days, latest first: their period ran out
    (``state`` closed) or their case was cancelled (``state`` withdrawn)."""
    views = await call(store, disclosure.list_notices, store, closed=closed)
    return Response(_dump(list[PublicNotice], views), media_type="application/json")


@router.get(
    "/public/notices/{notice_id}",
    response_model=PublicNotice,
    responses=_errors("No public notice has this id"),
    summary="A public notice",
)
async def public_notice(store: StoreDep, notice_id: NoticeId) -> Response:
    """The notice's fields, period and whether it still accepts objections."""
    view = await call(store, disclosure.get_notice, store, notice_id)
    return json_response(PublicNotice.model_validate(view))


@router.post(
    "/public/notices/{notice_id}/objections",
    response_model=ObjectionReceipt,
    status_code=201,
    responses=_errors(
        "No public notice has this id",
        conflict="The notice period has ended, the notice was withdrawn (its case was "
        "cancelled), or it has taken the most objections (POWERFLOW_NOTICE_MAX_OBJECTIONS)",
        invalid="Empty or too long text, name or contact",
    ),
    summary="Object to a public notice",
)
async def object_to_notice(store: StoreDep, notice_id: NoticeId, body: ObjectionWrite) -> Response:
    """Raise an objection during the notice period. It is recorded on the case and reaches it
    as the notice's objection message (held while the case is stopped, delivered when it runs
    again); the name and contact are seen by supervisors only."""
    receipt = await call(
        store,
        disclosure.object_to,
        store,
        notice_id,
        text=body.text,
        name=body.name,
        contact=body.contact,
    )
    return json_response(ObjectionReceipt.model_validate(receipt), status_code=201)


@supervision.get(
    "/v1/notices/{notice_id}/objections",
    response_model=list[ObjectionRead],
    responses=documented(
        not_found="No notice has this id", forbidden="Caller is not a monitor, auditor or admin"
    ),
    summary="A notice's objections, with contacts",
)
async def notice_objections(
    store: StoreDep, principal: PrincipalDep, notice_id: NoticeId
) -> Response:
    """Every objection to the notice with the objector's name and contact (monitor, auditor,
    admin)."""
    rows = await call(store, notices.objections, store, principal, notice_id)
    return Response(_dump(list[ObjectionRead], rows), media_type="application/json")


def _dump(kind: Any, values: Any) -> bytes:
    from pydantic import TypeAdapter

    return TypeAdapter(kind).dump_json(TypeAdapter(kind).validate_python(values))
