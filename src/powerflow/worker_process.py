"""The statistics aggregator in a child process of the service.

Counting events is pure CPU work in Python: in the serving process it held the interpreter lock
that the requests need, and the requests served meanwhile took its time on top of theirs (a
completion in a 300-task instance went from 5 to 16 ms whenever a pass of two busy seconds'
events ran beside it). In its own process it runs on another core and shares nothing with the
requests but the database, where each of its transactions is short (``StatisticsWorker.SLICE``).

The child stops when told to, and on its own when the service process dies (its end of the pipe
closes): a service killed with SIGKILL leaves no orphan counting into its database. A child that
dies while the service runs is logged and started again (``StatisticsProcess``, with a back-off).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
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
    same interface as a background thread of the service.

    A thread of the service watches the child: one that ends unasked (killed, crashed) is
    logged and started again after a back-off (``RESTART_FIRST`` seconds, doubling up to
    ``RESTART_MAX`` while each new child dies within ``STABLE`` seconds of its start), so a
    child that cannot run does not spin. The new child reads on from the cursor: the
    statistics catch up with what was recorded meanwhile."""

    RESTART_FIRST = 1.0
    RESTART_MAX = 60.0
    STABLE = 60.0
    WATCH = 0.5  # how often the watcher looks (a stop wakes it at once)

    def __init__(self, config: StatisticsConfig) -> None:
        self.config = config
        self._context: Any = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._pipe: Connection | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child (it imports powerflow afresh: nothing of this process is copied)
        and the thread that restarts it should it die."""
        self._stopping.clear()
        self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, name="powerflow-statistics-watch", daemon=True
        )
        self._watcher.start()

    def _spawn(self) -> None:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_run,
            args=(self.config, child_end),
            name="powerflow-statistics",
            daemon=True,
        )
        # multiprocessing starts its resource tracker on the first spawn and unblocks SIGINT
        # after it: started first, it leaves the block below in place for the child
        resource_tracker.ensure_running()
        with _sigint_blocked():
            process.start()
        child_end.close()
        self._process, self._pipe = process, parent_end

    def _watch(self) -> None:
        """Restart the child whenever it ends unasked, with a growing delay."""
        delay = self.RESTART_FIRST
        started = time.monotonic()
        while not self._stopping.is_set():
            process = self._process
            if process is None or process.is_alive():
                self._stopping.wait(self.WATCH)
                continue
            ran = time.monotonic() - started
            if ran >= self.STABLE:
                delay = self.RESTART_FIRST  # it had run well: not a crash loop
            log.warning(
                "statistics process %s ended unexpectedly (exit code %s) after %.0f s: "
                "starting a new one in %g s",
                process.pid,
                process.exitcode,
                ran,
                delay,
            )
            if self._stopping.wait(delay):
                return
            if self._pipe is not None:
                self._pipe.close()
            try:
                self._spawn()
            except Exception as exc:  # e.g. no process can be started now: try again later
                log.error(
                    "statistics process could not be started: %s: %s", type(exc).__name__, exc
                )
            else:
                self.restarts += 1
            started = time.monotonic()
            delay = min(delay * 2, self.RESTART_MAX)

    def stop(self, timeout: float = 5) -> None:
        """Ask the child to finish its pass and stop; end it if it does not within ``timeout``."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout)  # no restart from here on
            self._watcher = None
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
