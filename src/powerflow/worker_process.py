"""The statistics aggregator in a child process of the service.

Counting events is pure CPU work in Python: in the serving process it held the interpreter lock
that the requests need, and the requests served meanwhile took its time on top of theirs (a
completion in a 300-task instance went from 5 to 16 ms whenever a pass of two busy seconds'
events ran beside it). In its own process it runs on another core and shares nothing with the
requests but the database, where each of its transactions is short (``StatisticsWorker.SLICE``).

The child stops when told to, and on its own when the service process dies (its end of the pipe
closes): a service killed with SIGKILL leaves no orphan counting into its database.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("powerflow.statistics")

_STOP = "stop"


@dataclass(frozen=True)
class StatisticsConfig:
    """What the child needs to count: where the database is and how often to look."""

    database_url: str
    busy_timeout_ms: int
    time_zone: str
    interval: float


def _run(config: StatisticsConfig, pipe: Connection) -> None:
    """The child's body: count until the parent says stop or goes away."""
    # Ctrl-C in a terminal reaches the whole process group: the service stops this child itself.
    # SIGINT was blocked since the spawn (``_sigint_blocked``): one pending now is discarded.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from powerflow.db.engine import Store
    from powerflow.workers import StatisticsWorker

    logging.basicConfig(level=logging.WARNING)
    store = Store(config.database_url, busy_timeout_ms=config.busy_timeout_ms)
    store.time_zone = config.time_zone
    worker = StatisticsWorker(store, config.interval)
    worker.start()
    try:
        while pipe.recv() != _STOP:
            pass
    except (EOFError, OSError):  # the parent is gone
        pass
    finally:
        worker.stop()
        store.dispose()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while the child is spawned (as multiprocessing does for its
    resource tracker): the child inherits the mask, so a Ctrl-C that reaches the process group
    while it is still importing powerflow stays pending until ``_run`` ignores it, instead of
    interrupting the import with a traceback. This process gets its pending Ctrl-C as soon as
    the mask is restored."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class StatisticsProcess:
    """Starts and stops the statistics aggregator's child process (``start``, ``stop``): the
    same interface as a background thread of the service."""

    def __init__(self, config: StatisticsConfig) -> None:
        self.config = config
        self._context: Any = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._pipe: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child (it imports powerflow afresh: nothing of this process is copied)."""
        parent_end, child_end = self._context.Pipe()
        self._process = self._context.Process(
            target=_run,
            args=(self.config, child_end),
            name="powerflow-statistics",
            daemon=True,
        )
        # multiprocessing starts its resource tracker on the first spawn and unblocks SIGINT
        # after it: started first, it leaves the block below in place for the child
        resource_tracker.ensure_running()
        with _sigint_blocked():
            self._process.start()
        child_end.close()
        self._pipe = parent_end

    def stop(self, timeout: float = 5) -> None:
        """Ask the child to finish its pass and stop; end it if it does not within ``timeout``."""
        if self._process is None or self._pipe is None:
            return
        with contextlib.suppress(OSError):  # the child is already gone
            self._pipe.send(_STOP)
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("statistics process did not stop within %.0f s: terminating it", timeout)
            self._process.terminate()
            self._process.join(timeout)
        self._pipe.close()
        self._process = None
        self._pipe = None
