"""/v1/events: the event log across instances, paged (pull) or streamed (SSE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.schemas import INT64_MAX, EventCursorRead, EventRead, Page
from powerflow.api.stream import Reader, event_stream
from powerflow.services import feed, visibility
from powerflow.services.errors import InvalidInput
from powerflow.services.views import EventView

router = APIRouter(tags=["events"])
ERRORS = documented(
    not_found="Unknown instance, or one the caller is not involved in",
    forbidden="The event feed of every instance needs the 'monitor' or 'admin' role",
    invalid="Invalid filter",
)
Types = Annotated[
    str | None, Query(description="Comma-separated event types, e.g. task.completed,alert.raised")
]


@router.get(
    "/v1/events",
    response_model=Page[EventRead],
    responses=ERRORS,
    summary="Events after a cursor, for pull consumers",
)
async def list_events(
    store: StoreDep,
    principal: PrincipalDep,
    after: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Return events with an id above this")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    definition_key: str | None = None,
    instance_id: str | None = None,
    types: Types = None,
) -> Page[EventRead]:
    """Events in id order; pass the last id you saw as ``after`` to continue (monitor, admin)."""
    visibility.check_feed_reader(principal)
    wanted = feed.parse_types(types)
    views = await call(
        store,
        feed.events_after,
        store,
        after=after,
        limit=limit + 1,
        definition_key=definition_key,
        instance_id=instance_id,
        types=wanted,
    )
    return Page[EventRead](
        items=[EventRead.model_validate(v, from_attributes=True) for v in views[:limit]],
        limit=limit,
        offset=after,
        has_more=len(views) > limit,
    )


@router.get(
    "/v1/events/latest",
    response_model=EventCursorRead,
    responses=documented(
        not_found="Never",
        forbidden="The event feed of every instance needs the 'monitor' or 'admin' role",
    ),
    summary="The id of the newest recorded event",
)
async def latest_event(store: StoreDep, principal: PrincipalDep) -> EventCursorRead:
    """The id of the newest event (0 when none): pass it as ``after`` (or ``Last-Event-ID``) to
    the stream to receive only what is recorded from now on (monitor, admin)."""
    visibility.check_feed_reader(principal)
    return EventCursorRead(id=await call(store, feed.latest_event_id, store))


def _cursor(after: int | None, last_event_id: str | None) -> int:
    text = (last_event_id or "").strip()
    if text.isascii() and text.isdigit():
        if int(text) > INT64_MAX:
            raise InvalidInput(f"Last-Event-ID must be an event id of at most {INT64_MAX}.")
        return int(text)
    return after or 0


@router.get(
    "/v1/events/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    summary="Server-Sent Events of every recorded step",
)
async def stream_events(
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    after: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    definition_key: str | None = None,
    instance_id: str | None = None,
    types: Types = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Every event after the cursor (``Last-Event-ID`` or ``after``; default: from the start),
    then each new one as it is committed. The SSE ``id`` is the event id (monitor, admin)."""
    visibility.check_feed_reader(principal)
    wanted = set(feed.parse_types(types))

    def keep(view: EventView) -> bool:
        return (
            (not definition_key or view.definition_key == definition_key)
            and (not instance_id or view.instance_id == instance_id)
            and (not wanted or view.type in wanted)
        )

    async def read(cursor: int, limit: int) -> list[EventView]:
        return await call(
            store,
            feed.events_after,
            store,
            after=cursor,
            limit=limit,
            definition_key=definition_key,
            instance_id=instance_id,
            types=sorted(wanted),
        )

    return _stream(request, keep, read, _cursor(after, last_event_id))


@router.get(
    "/v1/instances/{instance_id}/events/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    summary="Server-Sent Events of one instance",
    tags=["instances"],
)
async def stream_instance_events(
    instance_id: str,
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    after: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """The events of one instance, then each new one as it is committed (for those who may see
    the instance, checked when the stream opens)."""
    from powerflow.services import instances

    # 404 for an unknown id and for an instance the caller may not see
    await call(store, instances.get_instance, store, principal, instance_id)

    def keep(view: EventView) -> bool:
        return view.instance_id == instance_id

    async def read(cursor: int, limit: int) -> list[EventView]:
        return await call(
            store, feed.events_after, store, after=cursor, limit=limit, instance_id=instance_id
        )

    return _stream(request, keep, read, _cursor(after, last_event_id))


def _stream(
    request: Request,
    keep: Callable[[EventView], bool],
    read: Reader,
    cursor: int,
) -> EventSourceResponse:
    """The SSE response of a stream route, on the application's notifier, tail and settings."""
    state = request.app.state
    return event_stream(
        state.notifier,
        state.tail,
        keep,
        read,
        cursor,
        send_timeout=state.settings.stream_send_timeout_seconds,
    )
