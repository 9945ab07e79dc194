"""A daemon thread that does one thing every few seconds: the shape of every background loop."""

from __future__ import annotations

import logging
import threading
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
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start the loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it to end."""
        self._stop.set()
        self._thread.join(timeout=self._join_timeout)

    def _loop(self) -> None:
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                if stopping and not self._last_tick_on_stop:
                    return
                try:
                    self._tick()
                except Exception:
                    log.exception("%s: tick failed", self._thread.name)
                if stopping:
                    return
        finally:
            if self._on_stop is not None:
                self._on_stop()
