"""Server-Sent Events over the event log.

A subscriber reads events after its cursor (the SSE id is the event id, so a client that
reconnects with ``Last-Event-ID`` continues exactly where it stopped), then waits until a write
commits or a poll interval passes. Recent events are read from the table once per commit into a
shared tail, rendered to JSON once, and filtered per subscriber in memory; a subscriber whose
cursor is older than the tail reads the table directly. Nothing is queued per subscriber: each
pulls only as fast as it can be sent, and a client that stops reading is dropped after a send
timeout instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from sse_starlette import EventSourceResponse, ServerSentEvent

from powerflow.api.schemas import EventRead
from powerflow.services.views import EventView

BATCH = 500
POLL_SECONDS = 1.0
COALESCE_SECONDS = 0.010
PING_SECONDS = 15
SEND_TIMEOUT_SECONDS = 10
TAIL_SIZE = 20_000


class CommitNotifier:
    """Wakes waiting subscribers after each committed write; callable from any thread.

    Also wakes them every ``POLL_SECONDS`` on its own, so that commits of other processes are
    seen and a subscriber never needs a timeout of its own on every wait.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, coalesce: float = COALESCE_SECONDS) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._event = asyncio.Event()
        self.generation = 0
        self._coalesce = coalesce
        self._pending: asyncio.TimerHandle | None = None
        self._tick_handle = loop.call_later(POLL_SECONDS, self._tick)

    def close(self) -> None:
        """Stop the periodic wake-up."""
        self._tick_handle.cancel()

    def _tick(self) -> None:
        self._wake()
        self._tick_handle = self._loop.call_later(POLL_SECONDS, self._tick)

    def current(self) -> asyncio.Event:
        """The event the next commit will set (take it before reading, wait on it after)."""
        return self._event

    def notify(self) -> None:
        """Signal a commit. Subscribers wake once per ``coalesce`` seconds at most: commits in
        that window reach each of them in one write instead of one write per commit."""
        if threading.get_ident() == self._loop_thread:
            self._schedule()
        else:
            self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        if self._pending is None:
            self._pending = self._loop.call_later(self._coalesce, self._wake)

    def _wake(self) -> None:
        self._pending = None
        self.generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()


@dataclass(frozen=True)
class Frame:
    """An event ready to send: what filters look at, and its SSE message rendered once (every
    subscriber sends the same bytes)."""

    view: EventView
    sse: bytes


def frame(view: EventView) -> Frame:
    """Render an event for the stream."""
    data = EventRead.model_validate(view, from_attributes=True).model_dump_json()
    return Frame(view, ServerSentEvent(data=data, id=str(view.id), event=view.type).encode())


Reader = Callable[[int, int], Awaitable[list[EventView]]]  # (after id, limit) -> events


class EventTail:
    """The most recent events, read from the table once per commit and shared by subscribers."""

    def __init__(
        self,
        notifier: CommitNotifier,
        read: Reader,
        newest: Callable[[], Awaitable[int]],
        size: int = TAIL_SIZE,
    ) -> None:
        self._notifier = notifier
        self._read = read
        self._newest = newest
        self._size = size
        # Frames in id order, with their ids beside them for binary search; trimmed to the
        # newest ``size`` once twice that many have accumulated.
        self._frames: list[Frame] = []
        self._ids: list[int] = []
        self._complete_after: int | None = None  # holds every event with a greater id
        self._last_id: int | None = None
        self._generation = -1
        self._refreshed_at = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        stale = time.monotonic() - self._refreshed_at >= POLL_SECONDS
        if self._generation == self._notifier.generation and not stale:
            return
        generation = self._notifier.generation
        if self._last_id is None:  # start at the current end of the log
            self._last_id = self._complete_after = await self._newest()
        while True:
            batch = await self._read(self._last_id, BATCH)
            self._frames.extend(frame(v) for v in batch)
            self._ids.extend(v.id for v in batch)
            if batch:
                self._last_id = batch[-1].id
            if len(self._frames) > 2 * self._size:
                self._complete_after = self._ids[-self._size - 1]
                del self._frames[: -self._size]
                del self._ids[: -self._size]
            if len(batch) < BATCH:
                break
        self._generation = generation
        self._refreshed_at = time.monotonic()

    async def after(
        self, cursor: int, keep: Callable[[EventView], bool], limit: int
    ) -> list[Frame] | None:
        """Frames after ``cursor`` that ``keep`` accepts, or None if the tail starts later."""
        async with self._lock:
            await self._refresh()
            assert self._complete_after is not None
            if cursor < self._complete_after:
                return None
            out: list[Frame] = []
            for f in itertools.islice(self._frames, bisect.bisect_right(self._ids, cursor), None):
                if keep(f.view):
                    out.append(f)
                    if len(out) >= limit:
                        break
            return out


async def _frames(
    notifier: CommitNotifier,
    tail: EventTail,
    keep: Callable[[EventView], bool],
    read_filtered: Reader,
    cursor: int,
) -> AsyncIterator[bytes]:
    while True:
        wake = notifier.current()
        batch = await tail.after(cursor, keep, BATCH)
        if batch is None:  # behind the shared tail: catch up from the table
            batch = [frame(v) for v in await read_filtered(cursor, BATCH)]
        if batch:
            cursor = batch[-1].view.id
            yield b"".join(f.sse for f in batch)  # one write for all the events at hand
        if len(batch) < BATCH:
            await wake.wait()  # the next commit, or the notifier's periodic tick


def event_stream(
    notifier: CommitNotifier,
    tail: EventTail,
    keep: Callable[[EventView], bool],
    read_filtered: Reader,
    cursor: int,
) -> EventSourceResponse:
    """An SSE response streaming matching events after ``cursor`` until the client leaves."""
    return EventSourceResponse(
        _frames(notifier, tail, keep, read_filtered, cursor),
        ping=PING_SECONDS,
        send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
