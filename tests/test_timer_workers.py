"""The timer worker's batches: due instances fired once each, even with two workers racing, and
an instance that cannot be fired does not hold the others back (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

from conftest import Api
from powerflow import workers
from powerflow.db.models import Event, Instance
from powerflow.periodic import Backoff
from rebind import rebind


def _start_many(api: Api, count: int) -> list[str]:
    assert api.deploy("timer.bpmn").status_code == 201  # a 0.5 s timer, then a user task
    clerk = api.user("clerk")
    ids = []
    for _ in range(count):
        started = api.client.post(
            "/v1/instances", headers=clerk, json={"definition_key": "cooling_off"}
        )
        assert started.status_code == 201, started.text
        ids.append(started.json()["id"])
    time.sleep(0.6)  # every timer is due
    return ids


def _fired(api: Api) -> Counter[str]:
    with api.store.read() as session:
        rows = session.query(Event.instance_id).filter(Event.type == "timer.fired").all()
    return Counter(r[0] for r in rows)


def test_two_workers_racing_fire_each_instance_once(api: Api) -> None:
    ids = _start_many(api, 24)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        barrier.wait()
        counts.append(workers.fire_due_timers(api.store, batch=5))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == len(ids), counts
    assert _fired(api) == Counter(dict.fromkeys(ids, 1))
    with api.store.read() as session:
        tasks = {
            i: api.client.get(f"/v1/instances/{i}", headers=api.admin).json()["tasks"] for i in ids
        }
        assert session.query(Instance).filter(Instance.next_timer_at.is_not(None)).count() == 0
    assert all([t["element_id"] for t in v] == ["decide"] for v in tasks.values())


def test_a_broken_instance_in_a_batch_fails_alone(api: Api) -> None:
    ids = _start_many(api, 6)
    broken = ids[2]
    with api.store.write() as session:
        row = session.get(Instance, broken)
        assert row is not None
        state = json.loads(row.state)
        state["spec"] = "0" * 64 + ":elsewhere"  # saved state that cannot be restored
        row.state = json.dumps(state)
    rebind(api.store.engine, broken)  # as a migration would: not an edit
    backoff = Backoff()
    assert workers.fire_due_timers(api.store, backoff=backoff) == len(ids) - 1
    assert backoff.waiting() == set()
    for instance_id in ids:
        shown = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
        if instance_id == broken:
            assert shown["status"] == "failed"
            assert "cannot be restored or run" in shown["incident"]["message"]
        else:
            assert shown["status"] == "running"
            assert [t["element_id"] for t in shown["tasks"]] == ["decide"]
    assert set(_fired(api)) == set(ids) - {broken}


def test_the_worker_sleeps_until_the_earliest_due_timer(api: Api) -> None:
    worker = workers.TimerWorker(api.store, interval=30)
    assert worker._wait() == 30  # nothing due: the poll interval
    assert api.deploy("timer.bpmn").status_code == 201
    clerk = api.user("clerk")
    started = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "cooling_off"}
    )
    assert started.status_code == 201
    assert 0.01 <= worker._wait() <= 0.5  # the 0.5 s timer, not the 30 s poll
    time.sleep(0.6)
    assert worker._wait() == worker.MIN_WAIT  # due already
    worker._pass()  # fires it
    assert worker._wait() == 30
    shown = api.client.get(f"/v1/instances/{started.json()['id']}", headers=clerk).json()
    assert [t["element_id"] for t in shown["tasks"]] == ["decide"]
