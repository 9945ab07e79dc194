#!/usr/bin/env python
"""What routing messages between instances costs, in-process through the services.

On a SQLite file (or ``--db-url``): ``--waiting`` instances of ``order`` wait for
``order_paid``, each with its own ``order_id`` (tests/data/messaging/orders.bpmn); then one
message per instance is sent with ``messages.post``, correlated by the payload, and each send's
wall time is measured (subscription lookup by key, row lock, engine step, step recording,
subscription rewrite, log row: one transaction). Then ``--chains`` request/reply round trips of
tests/data/messaging/relay.bpmn: completing ``prepare`` throws a message that starts an
``answerer`` instance whose end event's reply comes back to the requester, all in the
completion's transaction.

    python bench/messages.py
    python bench/messages.py --waiting 2000 --chains 200

Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from powerflow.bootstrap import prepare
from powerflow.db.engine import Store
from powerflow.services import definitions, messages, tasks
from powerflow.services.auth import Principal
from powerflow.services.instances import start_instance
from powerflow.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "messaging"
CLERK = Principal("clerk", frozenset({"clerk"}))
ADMIN = Principal("admin", frozenset({"admin", "designer"}))


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=1000, help="instances waiting")
    parser.add_argument("--chains", type=int, default=100, help="request/reply round trips")
    parser.add_argument("--db-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{tmp}/bench.db"
        store = Store(url)
        prepare(store, Settings(database_url=url, deploy_examples=False, admin_token="x" * 32))
        for name in ("orders.bpmn", "relay.bpmn"):
            definitions.deploy(store, (DATA / name).read_bytes(), name, ADMIN, max_bytes=1 << 20)

        started = time.perf_counter()
        for n in range(args.waiting):
            start_instance(store, CLERK, "order", variables={"order_id": n})
        per_start = (time.perf_counter() - started) / args.waiting
        sends: list[float] = []
        for n in range(args.waiting):
            t0 = time.perf_counter()
            view = messages.post(
                store, CLERK, kind="message", name="order_paid", payload={"order_id": n}
            )
            sends.append(time.perf_counter() - t0)
            assert view.status == "delivered", view
        print(f"start {args.waiting} waiting instances: {per_start * 1000:.2f} ms each")
        print(f"correlated send to 1 of {args.waiting} waiting instances: {_ms(sends)}")

        trips: list[float] = []
        for _ in range(args.chains):
            asker = start_instance(store, CLERK, "requester")
            task = asker.tasks[0].id
            t0 = time.perf_counter()
            done = tasks.complete(store, CLERK, task, {"question": "tea?"})
            trips.append(time.perf_counter() - t0)
            assert [t.element_id for t in done.tasks] == ["read"], done
        print(
            f"completion that throws, starts a partner and gets its reply back "
            f"(one transaction): {_ms(trips)}"
        )
        store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
