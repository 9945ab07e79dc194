"""Subscribing to step events: pull with a cursor, and Server-Sent Events against a real server
that resume after a disconnect without a gap or a duplicate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from conftest import DATA, Api, Server


def sse_events(response: httpx.Response) -> Iterator[dict]:
    """Parse an SSE response into {id, event, data} dicts (comments and pings skipped)."""
    current: dict = {}
    for line in response.iter_lines():
        if not line:
            if "data" in current:
                yield current
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")


def read_until(client: httpx.Client, url: str, headers: dict, stop_after: int) -> list[dict]:
    got: list[dict] = []
    with client.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in sse_events(response):
            got.append(event)
            if len(got) >= stop_after:
                break
    return got


def _deploy_three_tasks(server: Server) -> dict[str, str]:
    """A designer deploys the three-task process; return a clerk who can run it."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        deployed = c.post(
            "/v1/definitions",
            headers=server.user("designer"),
            files={"file": ("t.bpmn", (DATA / "three_tasks.bpmn").read_bytes())},
        )
        assert deployed.status_code == 201
    return server.user("clerk,clerk-office")


def _run_steps(base: str, clerk: dict, instances: int, data: dict | None = None) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(instances):
            inst = c.post(
                "/v1/instances", headers=clerk, json={"definition_key": "three_tasks"}
            ).json()
            for _ in range(3):
                inst = c.post(
                    f"/v1/tasks/{inst['tasks'][0]['id']}/complete",
                    headers=clerk,
                    json={"data": data or {}},
                ).json()
            assert inst["status"] == "completed"


def test_pull_consumer_pages_with_a_cursor(api: Api) -> None:
    api.deploy("three_tasks.bpmn")
    clerk = api.user("clerk,clerk-office")
    for _ in range(3):
        inst = api.client.post(
            "/v1/instances", headers=clerk, json={"definition_key": "three_tasks"}
        ).json()
        api.client.post(
            f"/v1/tasks/{inst['tasks'][0]['id']}/complete", headers=clerk, json={"data": {}}
        )
    seen: list[int] = []
    after = 0
    monitor = api.user("monitor")  # the feed of every instance is for monitors and admins
    assert api.client.get("/v1/events", headers=clerk).status_code == 403
    while True:
        page = api.client.get(f"/v1/events?after={after}&limit=4", headers=monitor).json()
        seen.extend(e["id"] for e in page["items"])
        if not page["has_more"]:
            break
        after = page["items"][-1]["id"]
    assert seen == sorted(set(seen)) and len(seen) == 3 * 4
    only = api.client.get(
        "/v1/events?types=task.completed,instance.started", headers=monitor
    ).json()
    assert {e["type"] for e in only["items"]} == {"task.completed", "instance.started"}
    by_instance = api.client.get(f"/v1/events?instance_id={inst['id']}", headers=monitor).json()
    assert {e["instance_id"] for e in by_instance["items"]} == {inst["id"]}
    too_many = ",".join(f"t{i}" for i in range(30))
    assert api.client.get(f"/v1/events?types={too_many}", headers=monitor).status_code == 422
    assert api.client.get("/v1/events").status_code == 401


@pytest.mark.e2e
def test_sse_resumes_after_disconnect_without_gap_or_duplicate(server: Server) -> None:
    clerk = _deploy_three_tasks(server)
    monitor = server.user("monitor")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        _run_steps(server.url, clerk, 2)  # 2 x 8 events
        first = read_until(c, "/v1/events/stream", monitor, stop_after=7)
        assert [int(e["id"]) for e in first] == list(range(1, 8))
        assert first[0]["event"] == "instance.started"
        assert json.loads(first[0]["data"])["type"] == "instance.started"

        # live: a subscriber that is connected while new steps commit receives them
        live: list[dict] = []

        def subscribe() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as sub:
                live.extend(
                    read_until(
                        sub, "/v1/events/stream?types=instance.completed", monitor, stop_after=4
                    )
                )

        thread = threading.Thread(target=subscribe)
        thread.start()
        _run_steps(server.url, clerk, 2)
        thread.join(timeout=30)
        assert [e["event"] for e in live] == ["instance.completed"] * 4

        resumed = read_until(
            c,
            "/v1/events/stream",
            {**monitor, "Last-Event-ID": first[-1]["id"]},
            stop_after=4 * 8 - 7,
        )
        ids = [int(e["id"]) for e in first + resumed]
        assert ids == list(range(1, 4 * 8 + 1))  # every event exactly once, in order

        per_instance = c.get("/v1/instances?limit=1", headers=clerk).json()["items"][0]
        one = read_until(
            c, f"/v1/instances/{per_instance['id']}/events/stream?after=0", clerk, stop_after=8
        )
        assert {json.loads(e["data"])["instance_id"] for e in one} == {per_instance["id"]}
        assert c.get("/v1/instances/nope/events/stream", headers=clerk).status_code == 404


@pytest.mark.e2e
def test_burst_of_1000_steps_reaches_20_subscribers_in_order(server: Server) -> None:
    clerk = _deploy_three_tasks(server)
    monitor = server.user("monitor")
    instances, per_instance = 125, 8  # 1,000 recorded steps
    total = instances * per_instance
    received: dict[int, list[int]] = {}
    ready = threading.Barrier(21)

    def subscriber(n: int) -> None:
        ids: list[int] = []
        with (
            httpx.Client(base_url=server.url, timeout=60) as sub,
            sub.stream("GET", "/v1/events/stream", headers=monitor) as response,
        ):
            ready.wait()
            for event in sse_events(response):
                ids.append(int(event["id"]))
                if len(ids) >= total:
                    break
        received[n] = ids

    threads = [threading.Thread(target=subscriber, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    ready.wait()
    producers = [
        threading.Thread(target=_run_steps, args=(server.url, clerk, instances // 5))
        for _ in range(5)
    ]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    for t in threads:
        t.join(timeout=90)
    assert sorted(received) == list(range(20))
    for ids in received.values():
        assert ids == list(range(1, total + 1))


def test_shared_tail_serves_every_cursor_and_trims_its_oldest_frames() -> None:
    """The in-memory tail the subscribers share: correct frames for any cursor, None for a cursor
    older than what it holds (the subscriber then reads the table), bounded memory."""
    import asyncio
    from datetime import UTC, datetime

    from powerflow.api.stream import CommitNotifier, EventTail
    from powerflow.services.views import EventView

    log: list[EventView] = []

    def add(n: int) -> None:
        for _ in range(n):
            i = len(log) + 1
            log.append(
                EventView(
                    id=i * 2,  # ids need not be dense (PostgreSQL sequences have gaps)
                    instance_id="i-even" if i % 2 == 0 else "i-odd",
                    seq=i,
                    type="task.ready",
                    definition_key="k",
                    definition_version=1,
                    element_id="e",
                    element_name="E",
                    task_id=None,
                    actor="system",
                    payload={"roles": []},
                    occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                    prev_hash=None,
                    hash="h",
                )
            )

    async def read(after: int, limit: int) -> list[EventView]:
        return [v for v in log if v.id > after][:limit]

    async def newest() -> int:
        return 0

    async def scenario() -> None:
        notifier = CommitNotifier(asyncio.get_running_loop(), coalesce=0.05)
        tail = EventTail(notifier, read, newest, size=50)
        add(90)  # ids 2, 4, ..., 180: under twice the size, nothing dropped yet
        notifier.notify()
        everything = await tail.after(0, lambda v: True, 1000)
        assert everything is not None
        assert [f.view.id for f in everything] == [v.id for v in log]
        middle = await tail.after(101, lambda v: True, 1000)  # between two ids
        assert middle is not None and [f.view.id for f in middle] == list(range(102, 181, 2))
        odd = await tail.after(100, lambda v: v.instance_id == "i-odd", 3)
        assert odd is not None and [f.view.id for f in odd] == [102, 106, 110]
        add(30)  # 120 frames > 2 x 50: only the newest 50 (ids 142..240) are kept
        generation = notifier.generation
        wake = notifier.current()
        for _ in range(5):  # five commits within one coalescing window: one wake-up
            notifier.notify()
        await asyncio.wait_for(wake.wait(), 1)
        assert notifier.generation == generation + 1
        assert await tail.after(0, lambda v: True, 1000) is None
        assert await tail.after(139, lambda v: True, 1000) is None
        kept = await tail.after(141, lambda v: True, 1000)
        assert kept is not None and [f.view.id for f in kept] == list(range(142, 241, 2))
        assert b"id: 240\r\n" in kept[-1].sse and b"event: task.ready\r\n" in kept[-1].sse
        # A byte budget bounds the tail too (events carry submitted data): at most half of it
        # is kept after a trim, the newest frames first.
        frame_bytes = len(kept[-1].sse)
        small = EventTail(notifier, read, newest, size=1000, max_bytes=20 * frame_bytes)
        await small.after(0, lambda v: True, 1)  # starts at the current end (newest() == 0)
        add(30)
        notifier.notify()
        await asyncio.wait_for(notifier.current().wait(), 1)
        assert await small.after(log[-1].id, lambda v: True, 1) == []  # refreshed, up to date
        held = await small.after(small._complete_after or 0, lambda v: True, 1000)
        assert held is not None and 1 <= len(held) <= 10
        assert held[-1].view.id == log[-1].id
        assert sum(len(f.sse) for f in held) <= 10 * frame_bytes + frame_bytes
        notifier.close()

    asyncio.run(scenario())


def test_a_stalled_subscriber_is_dropped_and_others_go_on(db_url: str) -> None:
    """A client that connects and never reads: once the kernel's buffers for it are full, the
    server's write to it blocks (nothing more is buffered for it) and after the send timeout its
    stream ends, said in one log line; a reading subscriber meanwhile gets every event."""
    import socket
    import time
    from urllib.parse import urlsplit

    from conftest import start_server, stop_server

    server = start_server(
        db_url, POWERFLOW_DEPLOY_EXAMPLES="false", POWERFLOW_STREAM_SEND_TIMEOUT_SECONDS="1"
    )
    try:
        clerk = _deploy_three_tasks(server)
        monitor = server.user("monitor")
        parts = urlsplit(server.url)
        assert parts.hostname is not None and parts.port is not None
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        stalled.connect((parts.hostname, parts.port))
        stalled.sendall(
            b"GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
            + f"Authorization: {monitor['Authorization']}\r\n\r\n".encode()
        )
        client_port = stalled.getsockname()[1]
        reader_ids: list[int] = []
        reading = threading.Event()
        instances, per_instance = 25, 8

        def reader() -> None:
            with (
                httpx.Client(base_url=server.url, timeout=60) as sub,
                sub.stream("GET", "/v1/events/stream", headers=monitor) as response,
            ):
                reading.set()
                for event in sse_events(response):
                    reader_ids.append(int(event["id"]))
                    if len(reader_ids) >= instances * per_instance:
                        return

        thread = threading.Thread(target=reader)
        thread.start()
        assert reading.wait(10)
        # Each completion records its submitted data in its event: 75 events of about 200 kB,
        # more than the kernel buffers for one connection hold.
        _run_steps(server.url, clerk, instances, data={"note": "x" * 200_000})
        thread.join(60)
        assert len(reader_ids) == instances * per_instance
        assert reader_ids == sorted(reader_ids)
        deadline = time.monotonic() + 20
        while "dropped subscriber" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert f"dropped subscriber 127.0.0.1:{client_port}" in server.output()
        assert "took no data for 1.0 s" in server.output()
        assert "Traceback" not in server.output()
        stalled.close()
        with httpx.Client(base_url=server.url, timeout=10) as c:  # and the server goes on
            assert c.get("/v1/me", headers=clerk).status_code == 200
    finally:
        stop_server(server)


def test_the_newest_event_id_starts_a_stream_at_now(api: Api) -> None:
    """GET /v1/events/latest: the cursor a dashboard opens the stream after (monitor, admin)."""
    monitor = api.user("monitor")
    assert api.client.get("/v1/events/latest", headers=monitor).json() == {"id": 0}
    api.deploy("three_tasks.bpmn")
    clerk = api.user("clerk,clerk-office")
    api.client.post("/v1/instances", headers=clerk, json={"definition_key": "three_tasks"})
    newest = api.client.get("/v1/events?limit=1000", headers=monitor).json()["items"][-1]["id"]
    assert api.client.get("/v1/events/latest", headers=monitor).json() == {"id": newest}
    refused = api.client.get("/v1/events/latest", headers=clerk)
    assert refused.status_code == 403
    assert "'monitor' or 'admin' role" in refused.json()["detail"]
    assert api.client.get("/v1/events/latest").status_code == 401
