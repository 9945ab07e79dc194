"""/v1/exports/...: the event log for process-mining tools, streamed (services/mining.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from powerflow.api.alert_schemas import TimeBound
from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.db.engine import Store
from powerflow.mining import ocel, xes
from powerflow.services import mining

router = APIRouter(prefix="/v1/exports", tags=["exports"])
ERRORS = documented(
    not_found="No such process (or version of it) is deployed, or no such instance exists",
    forbidden="Exporting the event log needs the monitor, auditor or admin role",
    invalid="A filter is not valid: 'from' later than 'to', a malformed instance id, a version "
    "without its process",
)
DefinitionKey = Annotated[
    str | None, Query(max_length=255, description="Only instances of this process")
]
Version = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="Only instances on this version of the process"),
]
InstanceIds = Annotated[
    list[str] | None,
    Query(
        max_length=mining.MAX_INSTANCE_IDS,
        description="Only these instances (repeat the parameter for several)",
    ),
]
FromBound = Annotated[TimeBound, Query(alias="from")]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


async def _stream(
    store: Store,
    selection_args: dict[str, object],
    render: Callable[[Store, mining.Selection], Iterator[bytes]],
    media_type: str,
    suffix: str,
) -> StreamingResponse:
    selection = await call(store, mining.select, store, **selection_args)
    stamp = store.now().strftime("%Y%m%dT%H%M%SZ")
    name = _UNSAFE.sub("_", f"powerflow-{selection.describe()}-{stamp}")
    # a plain iterator: Starlette reads it in the thread pool, never on the event loop
    return StreamingResponse(
        render(store, selection),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}{suffix}"'},
    )


@router.get(
    "/xes",
    response_class=StreamingResponse,
    responses={200: {"content": {xes.MEDIA_TYPE: {}}}, **ERRORS},
    summary="The event log as XES (IEEE 1849), for process-mining tools",
)
async def export_xes(
    store: StoreDep,
    principal: PrincipalDep,
    definition_key: DefinitionKey = None,
    version: Version = None,
    from_: FromBound = None,
    to: TimeBound = None,
    instance_id: InstanceIds = None,
) -> StreamingResponse:
    """One trace per instance, one event per step of its control flow (docs/audit.md, "Export
    for process mining"); events that occurred in [from, to) when given. Streamed (monitor,
    auditor, admin)."""
    mining.check_exporter(principal)
    args = _selection(definition_key, version, from_, to, instance_id)
    return await _stream(store, args, mining.xes_log, xes.MEDIA_TYPE, ".xes")


@router.get(
    "/ocel",
    response_class=StreamingResponse,
    responses={200: {"content": {ocel.MEDIA_TYPE: {}}}, **ERRORS},
    summary="The event log as OCEL 2.0 JSON, for object-centric process mining",
)
async def export_ocel(
    store: StoreDep,
    principal: PrincipalDep,
    definition_key: DefinitionKey = None,
    version: Version = None,
    from_: FromBound = None,
    to: TimeBound = None,
    instance_id: InstanceIds = None,
) -> StreamingResponse:
    """Events related to instance, task, person and supervision-case objects (docs/audit.md,
    "Export for process mining"); events that occurred in [from, to) when given. Streamed
    (monitor, auditor, admin)."""
    mining.check_exporter(principal)
    args = _selection(definition_key, version, from_, to, instance_id)
    return await _stream(store, args, mining.ocel_log, ocel.MEDIA_TYPE, ".json")


def _selection(
    definition_key: str | None,
    version: int | None,
    since: object,
    until: object,
    instance_ids: list[str] | None,
) -> dict[str, object]:
    return {
        "definition_key": definition_key,
        "version": version,
        "since": since,
        "until": until,
        "instance_ids": instance_ids or (),
    }
