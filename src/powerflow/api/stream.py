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
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from powerflow.api.schemas import EventRead
from powerflow.services.views import EventView

log = logging.getLogger("powerflow.stream")

BATCH = 500
POLL_SECONDS = 1.0
COALESCE_SECONDS = 0.010
PING_SECONDS = 15
SEND_TIMEOUT_SECONDS = 10
TAIL_SIZE = 20_000
WRITE_BYTES = 256 * 1024
TAIL_BYTES = 32 * 1024 * 1024  # events carry submitted task data, up to the body limit each


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
        max_bytes: int = TAIL_BYTES,
    ) -> None:
        self._notifier = notifier
        self._read = read
        self._newest = newest
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        # Frames in id order, with their ids beside them for binary search; trimmed to the
        # newest ``size`` once twice that many have accumulated, or to half of ``max_bytes``
        # once their messages take more than that.
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
            frames = [frame(v) for v in batch]
            self._frames.extend(frames)
            self._ids.extend(v.id for v in batch)
            self._bytes += sum(len(f.sse) for f in frames)
            if batch:
                self._last_id = batch[-1].id
            if len(self._frames) > 2 * self._size or self._bytes > self._max_bytes:
                self._trim()
            if len(batch) < BATCH:
                break
        self._generation = generation
        self._refreshed_at = time.monotonic()

    def _trim(self) -> None:
        """Keep the newest ``size`` frames, and at most half the byte budget of them."""
        keep, kept_bytes = 0, 0
        for f in reversed(self._frames):
            if keep >= self._size or kept_bytes + len(f.sse) > self._max_bytes // 2:
                break
            keep += 1
            kept_bytes += len(f.sse)
        drop = len(self._frames) - keep
        if drop:
            self._complete_after = self._ids[drop - 1]
            del self._frames[:drop]
            del self._ids[:drop]
            self._bytes = kept_bytes

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
            # The events at hand in as few writes as possible, each of at most about WRITE_BYTES.
            chunk: list[bytes] = []
            size = 0
            for f in batch:
                chunk.append(f.sse)
                size += len(f.sse)
                if size >= WRITE_BYTES:
                    yield b"".join(chunk)
                    chunk, size = [], 0
            if chunk:
                yield b"".join(chunk)
        if len(batch) < BATCH:
            await wake.wait()  # the next commit, or the notifier's periodic tick


class EventStreamResponse(EventSourceResponse):
    """sse-starlette's response, ending quietly when a client stops reading.

    uvicorn blocks a write once the connection's buffer is full; after ``send_timeout`` seconds
    sse-starlette gives up on it. That is routine for a stalled client, so it is logged as one
    line instead of an exception; the stream ends and uvicorn closes the connection.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            client = scope.get("client")
            log.warning(
                "event stream: dropped subscriber %s, which took no data for %s s",
                f"{client[0]}:{client[1]}" if client else "?",
                self.send_timeout,
            )


def event_stream(
    notifier: CommitNotifier,
    tail: EventTail,
    keep: Callable[[EventView], bool],
    read_filtered: Reader,
    cursor: int,
    send_timeout: float = SEND_TIMEOUT_SECONDS,
) -> EventSourceResponse:
    """An SSE response streaming matching events after ``cursor`` until the client leaves.

    A client that stops reading is dropped after ``send_timeout`` seconds of a blocked write
    (uvicorn blocks the write once its buffer is full), so it never grows the server's memory.
    """
    return EventStreamResponse(
        _frames(notifier, tail, keep, read_filtered, cursor),
        ping=PING_SECONDS,
        send_timeout=send_timeout,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
