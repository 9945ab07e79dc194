"""The event log for process mining: XES (IEEE 1849-2016) and OCEL 2.0 JSON, over HTTP and the
CLI, validated against the published schemas (tests/schemas), with filters, roles and streaming.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lxml import etree
from sqlalchemy import event, insert

from conftest import Api
from flows import complete, start
from powerflow.clock import ManualClock
from powerflow.db.engine import Store
from powerflow.db.models import Definition, Deployment, Event, Instance
from powerflow.mining.ocel import EPOCH
from powerflow.services import mining

SCHEMAS = Path(__file__).resolve().parent / "schemas"
XSD = etree.XMLSchema(etree.parse(str(SCHEMAS / "xes-ieee-1849-2016.xsd")))
OCEL_SCHEMA = json.loads((SCHEMAS / "ocel20-schema-json.json").read_text())
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def valid_xes(body: bytes) -> etree._Element:
    """The parsed XES document, after checking it against the IEEE 1849-2016 schema."""
    doc = etree.parse(io.BytesIO(body))
    assert XSD.validate(doc), XSD.error_log
    return doc.getroot()


def valid_ocel(body: bytes) -> dict[str, Any]:
    """The parsed OCEL document, after checking it against the OCEL 2.0 JSON schema and that
    every relationship names an object of the log and every type is declared."""
    log: dict[str, Any] = json.loads(body)
    jsonschema.Draft7Validator(
        OCEL_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    ).validate(log)
    objects = {o["id"]: o["type"] for o in log["objects"]}
    assert len(objects) == len(log["objects"]), "object ids are unique"
    object_types = {t["name"] for t in log["objectTypes"]}
    event_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in log["eventTypes"]}
    assert set(objects.values()) <= object_types
    for e in log["events"]:
        assert {a["name"] for a in e["attributes"]} <= event_types[e["type"]]
        for r in e["relationships"]:
            assert r["objectId"] in objects, r
    for o in log["objects"]:
        for r in o.get("relationships", []):
            assert r["objectId"] in objects, r
    return log


def traces(root: etree._Element) -> dict[str, list[dict[str, str]]]:
    """Each trace's events (attribute key -> value), by trace concept:name."""
    found: dict[str, list[dict[str, str]]] = {}
    for trace in root.findall("trace"):
        name = next(a.get("value") for a in trace if a.get("key") == "concept:name")
        found[name] = [{a.get("key"): a.get("value") for a in e} for e in trace.findall("event")]
    return found


def trace_attributes(root: etree._Element, name: str) -> dict[str, str]:
    """The attributes of the trace named ``name``."""
    for trace in root.findall("trace"):
        attrs = {a.get("key"): a.get("value") for a in trace if a.tag != "event"}
        if attrs["concept:name"] == name:
            return attrs
    raise AssertionError(f"no trace {name}")


def steps(events: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    """(activity, lifecycle transition, resource) of each event."""
    return [(e["concept:name"], e["lifecycle:transition"], e["org:resource"]) for e in events]


class Story:
    """Three instances run over HTTP on a manual clock, an hour between steps."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.clock = ManualClock(T0)
        api.store.clock = self.clock
        assert api.deploy("gateway.bpmn").status_code == 201
        assert api.deploy("three_tasks.bpmn").status_code == 201
        erin = api.user("clerk,employee", "erin")
        max_ = api.user("clerk,manager", "max")
        alice = api.user("clerk,clerk-office", "alice")
        self.monitor = api.user("monitor", "mona")

        self.big = start(api, erin, "expense", currency="CNY")  # 08:00
        self.tick()
        self.big = complete(api, erin, self.big, "submit", amount=5000)  # 09:00
        self.tick()
        approve = self.big["tasks"][0]["id"]
        claimed = api.client.post(f"/v1/tasks/{approve}/claim", headers=max_)  # 10:00
        assert claimed.status_code == 200, claimed.text
        self.tick()
        self.big = complete(api, max_, self.big, "approve", approved=True)  # 11:00
        assert self.big["status"] == "completed"
        self.tick()
        self.small = start(api, erin, "expense")  # 12:00
        self.tick()
        self.small = complete(api, erin, self.small, "submit", amount=20)  # 13:00
        assert self.small["status"] == "completed"
        self.tick()
        self.third = start(api, alice, "three_tasks")  # 14:00
        self.tick()
        self.third = complete(api, alice, self.third, "first")  # 15:00
        self.tick()
        cancelled = api.client.post(  # 16:00
            f"/v1/instances/{self.third['id']}/cancel", headers=alice, json={"reason": "dup"}
        )
        assert cancelled.status_code == 200, cancelled.text

    def tick(self) -> None:
        self.clock.advance(timedelta(hours=1))

    def get(self, fmt: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.api.client.get(
            f"/v1/exports/{fmt}", headers=headers or self.monitor, params=params
        )


@pytest.fixture
def story(api: Api) -> Story:
    return Story(api)


def test_xes_holds_one_trace_per_instance_with_lifecycle_and_resources(story: Story) -> None:
    response = story.get("xes")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="powerflow-all-processes-')
    assert disposition.endswith('.xes"')
    root = valid_xes(response.content)

    # the header: standard extensions with their URIs, globals, classifiers
    extensions = {e.get("prefix"): e.get("uri") for e in root.findall("extension")}
    assert extensions == {
        "concept": "http://www.xes-standard.org/concept.xesext",
        "lifecycle": "http://www.xes-standard.org/lifecycle.xesext",
        "time": "http://www.xes-standard.org/time.xesext",
        "org": "http://www.xes-standard.org/org.xesext",
    }
    classifiers = {c.get("name"): c.get("keys") for c in root.findall("classifier")}
    assert classifiers["Activity"] == "concept:name"
    assert classifiers["Activity_Lifecycle"] == "concept:name lifecycle:transition"
    global_event = {a.get("key") for a in root.find("global[@scope='event']")}
    for keys in classifiers.values():
        assert set(keys.split()) <= global_event

    found = traces(root)
    assert set(found) == {story.big["id"], story.small["id"], story.third["id"]}
    assert trace_attributes(root, story.big["id"])["definition_key"] == "expense"
    assert trace_attributes(root, story.big["id"])["definition_version"] == "1"
    assert "business_key" not in trace_attributes(root, story.big["id"])

    assert steps(found[story.big["id"]]) == [
        ("instance.started", "complete", "erin"),
        ("Submit claim", "schedule", "system"),
        ("Submit claim", "complete", "erin"),
        ("Classify", "complete", "system"),
        ("Approve claim", "schedule", "system"),
        ("Approve claim", "assign", "max"),
        ("Approve claim", "complete", "max"),
        ("end", "complete", "system"),
    ]
    big = found[story.big["id"]]
    assert [e["time:timestamp"][:19] for e in big[:3]] == [
        "2026-03-02T08:00:00",
        "2026-03-02T08:00:00",
        "2026-03-02T09:00:00",
    ]
    assert big[2]["org:role"] == "employee" and big[6]["org:role"] == "manager"
    assert "org:role" not in big[1]  # the offer names no single role
    # every event of one task shares its activity instance; the element id is kept
    assert big[4]["concept:instance"] == big[5]["concept:instance"] == big[6]["concept:instance"]
    assert big[6]["element_id"] == "approve" and big[6]["event_type"] == "task.completed"
    ids = [int(e["event_id"]) for e in big]
    assert ids == sorted(ids)
    # the gateway's decision is routing, not an activity: it is not in the log
    assert not any(e["event_type"] == "gateway.decided" for e in big)

    assert steps(found[story.third["id"]]) == [
        ("instance.started", "complete", "alice"),
        ("First step", "schedule", "system"),
        ("First step", "complete", "alice"),
        ("Second step", "schedule", "system"),
        ("Second step", "pi_abort", "alice"),  # closed because the instance was cancelled
        ("instance.cancelled", "pi_abort", "alice"),
    ]


def test_ocel_relates_events_to_instances_tasks_and_people(story: Story) -> None:
    response = story.get("ocel")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].endswith('.json"')
    log = valid_ocel(response.content)

    assert [t["name"] for t in log["objectTypes"]] == ["instance", "task", "person", "case"]
    objects = {o["id"]: o for o in log["objects"]}
    people = sorted(i for i, o in objects.items() if o["type"] == "person")
    assert people == ["person:alice", "person:erin", "person:max"]  # not the engine
    instance = objects[f"instance:{story.big['id']}"]
    values = [(a["name"], a["value"], a["time"][:19]) for a in instance["attributes"]]
    assert ("definition_key", "expense", "1970-01-01T00:00:00") in values
    assert ("definition_version", "1", "1970-01-01T00:00:00") in values
    assert [v for v in values if v[0] == "status"] == [
        ("status", "running", "2026-03-02T08:00:00"),
        ("status", "completed", "2026-03-02T11:00:00"),
    ]
    tasks = [o for o in log["objects"] if o["type"] == "task"]
    assert len(tasks) == 7  # submit, classify, approve; submit, classify; first, second
    (approve,) = [o for o in tasks if o["attributes"][0]["value"] == "approve"]
    assert approve["attributes"][1] == {"name": "name", "value": "Approve claim", "time": EPOCH}
    assert approve["relationships"] == [
        {"objectId": f"instance:{story.big['id']}", "qualifier": "part of"}
    ]
    of_approve = [
        e
        for e in log["events"]
        if {"objectId": approve["id"], "qualifier": "task"} in e["relationships"]
    ]
    assert [e["type"] for e in of_approve] == [
        "Approve claim (schedule)",
        "Approve claim (assign)",
        "Approve claim",
    ]
    done = of_approve[-1]
    assert {"objectId": "person:max", "qualifier": "actor"} in done["relationships"]
    assert {"name": "role", "value": "manager"} in done["attributes"]
    assert {"name": "lifecycle", "value": "complete"} in done["attributes"]
    # the same events as the XES log, one OCEL event each
    xes_events = sum(len(v) for v in traces(valid_xes(story.get("xes").content)).values())
    assert len(log["events"]) == xes_events
    declared = {t["name"]: t["attributes"] for t in log["eventTypes"]}
    assert {"name": "seq", "type": "integer"} in declared["Approve claim"]


def test_no_payload_leaves_the_system(story: Story) -> None:
    """Data minimisation: the amounts and currency submitted are not in either log."""
    for fmt in ("xes", "ocel"):
        body = story.get(fmt).content.decode()
        assert "5000" not in body and "CNY" not in body and "dup" not in body


def test_filters_select_process_version_instances_and_time(story: Story) -> None:
    def trace_ids(**params: Any) -> set[str]:
        response = story.get("xes", **params)
        assert response.status_code == 200, response.text
        return set(traces(valid_xes(response.content)))

    def ocel_instances(**params: Any) -> set[str]:
        response = story.get("ocel", **params)
        assert response.status_code == 200, response.text
        log = valid_ocel(response.content)
        return {o["id"][9:] for o in log["objects"] if o["type"] == "instance"}

    expense = {story.big["id"], story.small["id"]}
    assert trace_ids(definition_key="expense") == expense
    assert trace_ids(definition_key="expense", version=1) == expense
    assert ocel_instances(definition_key="three_tasks") == {story.third["id"]}
    assert trace_ids(instance_id=[story.small["id"], story.third["id"]]) == {
        story.small["id"],
        story.third["id"],
    }
    assert trace_ids(definition_key="expense", instance_id=[story.third["id"]]) == set()

    # [from, to): 10:00 up to (not including) 13:00 -> the claim, the approval, the end of the
    # big claim and the start of the small one
    window = {"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T13:00:00+00:00"}
    found = traces(valid_xes(story.get("xes", **window).content))
    assert set(found) == expense
    assert [e["lifecycle:transition"] for e in found[story.big["id"]]] == [
        "assign",
        "complete",
        "complete",
    ]
    assert steps(found[story.small["id"]]) == [
        ("instance.started", "complete", "erin"),
        ("Submit claim", "schedule", "system"),
    ]
    # an offset is honoured: 18:00+08:00 is 10:00 UTC
    shifted = {"from": "2026-03-02T18:00:00+08:00", "to": "2026-03-02T21:00:00+08:00"}
    assert story.get("xes", **shifted).content == story.get("xes", **window).content


def test_an_empty_selection_is_a_valid_empty_log(story: Story) -> None:
    empty = {"from": "2026-03-02T07:00:00Z", "to": "2026-03-02T07:00:00Z"}
    root = valid_xes(story.get("xes", **empty).content)
    assert root.findall("trace") == []
    log = valid_ocel(story.get("ocel", **empty).content)
    assert (log["events"], log["objects"], log["eventTypes"]) == ([], [], [])
    assert len(log["objectTypes"]) == 4


def test_only_monitors_auditors_and_administrators_export(story: Story) -> None:
    clerk = story.api.user("clerk,employee")
    for fmt in ("xes", "ocel"):
        refused = story.get(fmt, headers=clerk)
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith(
            "Exporting the event log needs the monitor, auditor or admin role"
        )
        assert story.api.client.get(f"/v1/exports/{fmt}").status_code == 401
        assert story.get(fmt, headers=story.api.user("auditor")).status_code == 200
        assert story.get(fmt, headers=story.api.admin).status_code == 200


@pytest.mark.parametrize(
    ("params", "status", "sentence"),
    [
        ({"definition_key": "nope"}, 404, "No process 'nope' is deployed."),
        ({"definition_key": "expense", "version": 7}, 404, "No version 7 of process 'expense'"),
        ({"version": 1}, 422, "A version selects a version of a process"),
        (
            {"from": "2026-03-02T12:00:00Z", "to": "2026-03-02T11:00:00Z"},
            422,
            "'from' (2026-03-02T12:00:00+00:00) is later than 'to'",
        ),
        ({"instance_id": "12"}, 422, "'12' is not an instance id (a UUID)."),
        ({"instance_id": str(uuid.UUID(int=7))}, 404, f"Instance {uuid.UUID(int=7)} does not"),
        ({"from": "2026-03-02"}, 422, "The request is not valid: query.from"),
        ({"to": "yesterday"}, 422, "The request is not valid: query.to"),
    ],
)
def test_bad_filters_are_refused_with_a_sentence(
    story: Story, params: dict[str, Any], status: int, sentence: str
) -> None:
    for fmt in ("xes", "ocel"):
        response = story.get(fmt, **params)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"].startswith(sentence), response.json()["detail"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "powerflow", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_same_logs(story: Story, db_url: str, tmp_path: Path) -> None:
    for fmt, suffix in (("xes", "xes"), ("ocel", "json")):
        out = tmp_path / f"log.{suffix}"
        done = _cli(
            fmt,
            "--out",
            str(out),
            "--definition-key",
            "expense",
            "--from",
            "2026-03-02T09:00:00+00:00",
            "--database-url",
            db_url,
        )
        assert done.returncode == 0, done.stderr
        assert f"of {fmt} to {out}" in done.stderr
        over_http = story.get(fmt, definition_key="expense", **{"from": "2026-03-02T09:00:00Z"})
        assert out.read_bytes() == over_http.content
    assert set(traces(valid_xes((tmp_path / "log.xes").read_bytes()))) == {
        story.big["id"],
        story.small["id"],
    }
    valid_ocel((tmp_path / "log.json").read_bytes())

    third = _cli("xes", "--out", "-", "--instance-id", story.third["id"], "--database-url", db_url)
    assert third.returncode == 0, third.stderr
    assert set(traces(valid_xes(third.stdout.encode()))) == {story.third["id"]}

    refused = _cli(
        "ocel",
        "--out",
        str(tmp_path / "x.json"),
        "--definition-key",
        "nope",
        "--database-url",
        db_url,
    )
    assert refused.returncode == 1 and "No process 'nope' is deployed." in refused.stderr
    naive = _cli(
        "xes", "--out", str(tmp_path / "x.xes"), "--from", "2026-03-02", "--database-url", db_url
    )
    assert naive.returncode == 2 and "is not a time with its offset" in naive.stderr


# -- streaming: a few thousand events written straight into the tables, read in small batches


def seed(store: Store, instances: int, events_per: int) -> None:
    """``instances`` instances of one deployed process with ``events_per`` task events each
    (synthetic rows: the export reads rows, it does not run the engine)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with store.begin(write=True) as conn:
        deployment = conn.execute(
            insert(Deployment).values(
                content_hash=uuid.uuid4().hex, filename="s.bpmn", xml=b"<x/>", deployed_by="t"
            )
        ).inserted_primary_key[0]
        definition = conn.execute(
            insert(Definition).values(
                key="synthetic",
                version=1,
                name="S",
                deployment_id=deployment,
                kind="process",
                content_hash="x",
                executable=True,
                catalog={},
                warnings=[],
                deployed_by="t",
            )
        ).inserted_primary_key[0]
        ids = [str(uuid.UUID(int=i + 1)) for i in range(instances)]
        conn.execute(
            insert(Instance),
            [
                {
                    "id": i,
                    "definition_id": definition,
                    "definition_key": "synthetic",
                    "definition_version": 1,
                    "status": "running",
                    "state": "{}",
                    "serializer_version": "1",
                    "data": {},
                    "waiting_messages": [],
                    "started_by": "ann",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        rows = []
        for i in ids:
            tasks = [str(uuid.uuid4()) for _ in range((events_per + 1) // 2)]
            for seq in range(1, events_per + 1):
                rows.append(
                    {
                        "instance_id": i,
                        "seq": seq,
                        "type": "task.ready" if seq % 2 else "task.completed",
                        "definition_key": "synthetic",
                        "definition_version": 1,
                        "element_id": "review",
                        "element_name": "Review",
                        "task_id": tasks[(seq - 1) // 2],
                        "actor": "system" if seq % 2 else "ann",
                        "payload": {"role": "clerk", "data": {"secret": 1}},
                        "occurred_at": now + timedelta(seconds=seq),
                        "hash": "h",
                    }
                )
        conn.execute(insert(Event), rows)


@pytest.fixture
def seeded(sqlite_api: Api) -> Iterator[Store]:
    seed(sqlite_api.store, instances=300, events_per=10)
    yield sqlite_api.store


def _count_event_reads(store: Store) -> list[str]:
    statements: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM events" in statement:
            statements.append(statement)

    return statements


@pytest.mark.parametrize("render", [mining.xes_log, mining.ocel_log], ids=["xes", "ocel"])
def test_the_export_streams_in_batches(seeded: Store, render: Any) -> None:
    selection = mining.select(seeded, definition_key="synthetic")
    reads = _count_event_reads(seeded)
    chunks = render(seeded, selection, batch=100, chunk_bytes=4096)
    first = next(chunks)
    assert first and len(reads) == 1  # written before the second batch of events was read
    rest = list(chunks)
    # 300 instances in batches of 100, 1,000 events each: 10 full batches + 1 short, thrice
    assert len(reads) == 33
    body = first + b"".join(rest)
    if render is mining.xes_log:
        found = traces(valid_xes(body))
        assert len(found) == 300 and all(len(v) == 10 for v in found.values())
    else:
        log = valid_ocel(body)
        assert len(log["events"]) == 3000
        assert sum(o["type"] == "instance" for o in log["objects"]) == 300
    assert b"secret" not in body


@pytest.mark.filterwarnings("ignore")  # PM4Py's own notices (optional speed-ups, banners)
def test_pm4py_reads_both_logs(story: Story, tmp_path: Path) -> None:
    """PM4Py, the process-mining library most users will load the exports with, reads both."""
    import pm4py

    (tmp_path / "log.xes").write_bytes(story.get("xes").content)
    (tmp_path / "log.json").write_bytes(story.get("ocel").content)
    frame = pm4py.read_xes(str(tmp_path / "log.xes"))
    assert frame["case:concept:name"].nunique() == 3
    assert set(frame["lifecycle:transition"]) >= {"schedule", "assign", "complete", "pi_abort"}
    log = pm4py.read_ocel2_json(str(tmp_path / "log.json"))
    assert len(log.events) == len(frame)
    assert set(log.objects["ocel:type"]) == {"instance", "task", "person"}
