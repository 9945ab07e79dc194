"""Server-Sent Events over the event log.

A subscriber reads the event table after its cursor (the SSE id is the event id, so a client
that reconnects with ``Last-Event-ID`` continues exactly where it stopped), then waits until a
write commits or a poll interval passes. Nothing is buffered in memory per subscriber: each one
pulls from the table only as fast as it can be sent, and a client that stops reading is dropped
after a send timeout instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

from sse_starlette import EventSourceResponse, ServerSentEvent

from powerflow.api.schemas import EventRead
from powerflow.services.views import EventView

BATCH = 500
POLL_SECONDS = 1.0
PING_SECONDS = 15
SEND_TIMEOUT_SECONDS = 10


class CommitNotifier:
    """Wakes waiting subscribers after each committed write; callable from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event the next commit will set (take it before reading, wait on it after)."""
        return self._event

    def notify(self) -> None:
        """Signal a commit."""
        if threading.get_ident() == self._loop_thread:
            self._wake()
        else:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()


Fetch = Callable[[int], Awaitable[list[EventView]]]


async def _frames(
    notifier: CommitNotifier, fetch: Fetch, cursor: int
) -> AsyncIterator[ServerSentEvent]:
    while True:
        wake = notifier.current()
        batch = await fetch(cursor)
        for view in batch:
            cursor = view.id
            yield ServerSentEvent(
                data=EventRead.model_validate(view, from_attributes=True).model_dump_json(),
                id=str(view.id),
                event=view.type,
            )
        if len(batch) < BATCH:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)


def event_stream(notifier: CommitNotifier, fetch: Fetch, cursor: int) -> EventSourceResponse:
    """An SSE response streaming events after ``cursor`` forever."""
    return EventSourceResponse(
        _frames(notifier, fetch, cursor),
        ping=PING_SECONDS,
        send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
