"""A daemon thread that does one thing every few seconds: the shape of every background loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("powerflow.periodic")


class PeriodicThread:
    """Calls ``tick`` every ``interval`` seconds until stopped.

    A tick that raises is logged and the loop goes on: one failure must not end background work.
    ``on_stop`` runs in the thread after the last tick (to close what the ticks used).
    """

    def __init__(
        self,
        name: str,
        interval: float,
        tick: Callable[[], object],
        *,
        last_tick_on_stop: bool = False,
        on_stop: Callable[[], object] | None = None,
        join_timeout: float = 10,
    ) -> None:
        self.interval = interval
        self._tick = tick
        self._last_tick_on_stop = last_tick_on_stop
        self._on_stop = on_stop
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._first_wait: float | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def stagger(self, fraction: float) -> None:
        """Make the first tick come after ``fraction`` of the interval instead of a whole one.

        Loops started together with the same interval would otherwise tick at the same moment
        every period; in one process they then hold the interpreter lock in one burst, and a
        request that arrives then waits for all of them at once."""
        self._first_wait = self.interval * fraction

    def start(self) -> None:
        """Start the loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it to end."""
        self._stop.set()
        self._thread.join(timeout=self._join_timeout)

    def _loop(self) -> None:
        try:
            first, self._first_wait = self._first_wait, None
            while True:
                stopping = self._stop.wait(self.interval if first is None else first)
                first = None
                if stopping and not self._last_tick_on_stop:
                    return
                try:
                    self._tick()
                except Exception as exc:  # one line, not a traceback every interval
                    log.error(
                        "%s: tick failed: %s: %s",
                        self._thread.name,
                        type(exc).__name__,
                        " ".join(str(exc).split())[:300],
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                if stopping:
                    return
        finally:
            if self._on_stop is not None:
                self._on_stop()


class Backoff:
    """Per-item retry times for a background loop: an item that failed waits, the others go on.

    The delay doubles with each consecutive failure of the same item, from ``first`` up to
    ``maximum`` seconds; a success forgets the item. Kept in memory: after a restart every item
    is tried once more, which is what an operator expects after fixing the cause.
    """

    def __init__(self, first: float = 1.0, maximum: float = 300.0) -> None:
        self.first = first
        self.maximum = maximum
        self._failures: dict[object, int] = {}
        self._until: dict[object, float] = {}
        self._lock = threading.Lock()

    def waiting(self, now: float | None = None) -> set[object]:
        """The items that must not be tried yet."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for item in [k for k, until in self._until.items() if until < now - self.maximum]:
                del self._until[item]  # long past: the item is gone or no longer failing
                self._failures.pop(item, None)
            return {k for k, until in self._until.items() if until > now}

    def failed(self, item: object) -> float:
        """Record a failure of ``item``; return how many seconds it now waits."""
        with self._lock:
            count = self._failures.get(item, 0) + 1
            self._failures[item] = count
            delay = float(min(self.first * 2 ** (count - 1), self.maximum))
            self._until[item] = time.monotonic() + delay
            return delay

    def succeeded(self, item: object) -> None:
        """Forget the failures of ``item``."""
        with self._lock:
            self._failures.pop(item, None)
            self._until.pop(item, None)
