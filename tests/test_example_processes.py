"""The example processes in processes/ run end to end through the HTTP API, following every
path that processes/README.md documents (the README's tables are the test data)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import ROOT, Api
from powerflow.clock import ManualClock

README = (ROOT / "processes" / "README.md").read_text()
TICKED = re.compile(r"`([^`]+)`")


@dataclass
class Step:
    element_id: str
    roles: list[str]
    data: dict[str, object]
    wait_days: int = 0  # "the walk moves the clock N days" first (a notice period, R17)
    comment: str | None = None  # "needs a reasoned comment" (pf:risk requireComment)
    countersign: str | None = None  # "countersigned by `role`" (pf:risk countersign)


@dataclass
class Path:
    process: str
    title: str
    variables: dict[str, object]
    steps: list[Step] = field(default_factory=list)
    end_event: str = ""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_paths() -> list[Path]:
    paths: list[Path] = []
    process = ""
    current: Path | None = None
    full_runs: dict[str, list[Step]] = {}
    for line in README.splitlines():
        heading = re.match(r"^## \d+\. `([a-z_]+)`", line)
        if heading:
            process = heading.group(1)
            continue
        title = re.match(r"^#{3,4} (\d+\.1 Full run.*|[A-Z]\. .*)$", line)
        if title and process:
            current = Path(process, title.group(1), {})
            paths.append(current)
            continue
        if current is None:
            continue
        if line.startswith("Start variables:"):
            current.variables = json.loads(TICKED.search(line).group(1))  # type: ignore[union-attr]
        elif re.match(r"^\| \d+ \|", line):
            cells = _cells(line)
            element = TICKED.search(cells[1]).group(1)  # type: ignore[union-attr]
            roles = TICKED.findall(cells[-2])
            raw = cells[-1]
            same = re.match(r"same as full run, step (\d+)", raw)
            if same:
                data = full_runs[process][int(same.group(1)) - 1].data
            else:
                data = json.loads(TICKED.search(raw).group(1))  # type: ignore[union-attr]
            wait = re.search(r"moves the clock (\d+) days", cells[1])
            signer = re.search(r"countersigned by `([^`]+)`", cells[1])
            current.steps.append(
                Step(
                    element,
                    roles,
                    data,
                    wait_days=int(wait.group(1)) if wait else 0,
                    comment=COMMENT if "reasoned comment" in cells[1] else None,
                    countersign=signer.group(1) if signer else None,
                )
            )
            if "Full run" in current.title:
                full_runs[process] = current.steps
        elif line.startswith("| — |"):
            current.end_event = TICKED.search(line).group(1)  # type: ignore[union-attr]
    return [p for p in paths if p.steps]


COMMENT = "Checked against the file; the reasons are in the record."
PATHS = parse_paths()
EXAMPLES = sorted(p.name for p in (ROOT / "processes").glob("*.bpmn"))


def test_readme_documents_paths_for_every_example() -> None:
    assert {p.process for p in PATHS} == {name.removesuffix(".bpmn") for name in EXAMPLES}
    assert all(p.end_event and p.variables for p in PATHS)


def run_path(api: Api, path: Path) -> None:
    designer = api.user("designer")
    for name in EXAMPLES:
        response = api.deploy(ROOT / "processes" / name, headers=designer)
        assert response.status_code in (200, 201), response.text
        assert response.json()["definitions"][0]["warnings"] == []
    users: dict[str, dict[str, str]] = {}

    def as_role(role: str) -> dict[str, str]:
        if role not in users:
            users[role] = api.user(f"clerk,{role}", role)
        return users[role]

    clock = ManualClock(datetime.now(UTC))
    api.store.clock = clock
    starter = api.user("clerk")
    started = api.client.post(
        "/v1/instances",
        headers=starter,
        json={"definition_key": path.process, "variables": path.variables},
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    for number, step in enumerate(path.steps, 1):
        ready = instance["tasks"]
        assert [t["element_id"] for t in ready] == [step.element_id], f"step {number}"
        task = ready[0]
        assert task["roles"] == step.roles, f"step {number}: roles"
        outsider = api.client.post(
            f"/v1/tasks/{task['id']}/complete", headers=starter, json={"data": step.data}
        )
        assert outsider.status_code == 403, f"step {number}: a clerk without the role"
        clock.advance(timedelta(days=step.wait_days))
        instance = do_step(api, instance, step, as_role, f"step {number}")
    assert instance["status"] == "completed"
    assert instance["tasks"] == []
    events = api.client.get(
        f"/v1/instances/{instance['id']}/events?limit=1000", headers=api.admin
    ).json()["items"]
    # the last event of the instance's run (a notice closed by that same step follows it)
    [ended] = [e for e in events if e["type"] == "instance.completed"]
    assert ended["element_id"] == path.end_event
    assert {e["type"] for e in events[events.index(ended) + 1 :]} <= {"notice.closed"}
    human = [e for e in events if e["type"] == "task.completed" and e["actor"] != "system"]
    assert [e["element_id"] for e in human] == [s.element_id for s in path.steps]
    assert [e["payload"]["role"] for e in human] == [s.roles[0] for s in path.steps]


def do_step(
    api: Api, instance: dict[str, Any], step: Step, as_role: Any, label: str = ""
) -> dict[str, Any]:
    """Complete the ready task of ``step`` as the holder of its first role, with the reasoned
    comment it needs, then have the holder of the countersign role approve it if it needs one;
    the instance after."""
    [task_id] = [t["id"] for t in instance["tasks"] if t["element_id"] == step.element_id]
    body: dict[str, Any] = {"data": step.data}
    if step.comment:
        body["comment"] = step.comment
    done = api.client.post(
        f"/v1/tasks/{task_id}/complete", headers=as_role(step.roles[0]), json=body
    )
    assert done.status_code == 200, f"{label} {step.element_id}: {done.text}"
    if step.countersign:
        states = {t["id"]: t["state"] for t in done.json()["tasks"]}
        assert states[task_id] == "awaiting_countersign", label
        done = api.client.post(
            f"/v1/tasks/{task_id}/countersign",
            headers=as_role(step.countersign),
            json={"decision": "approve"},
        )
        assert done.status_code == 200, f"{label} {step.element_id} countersign: {done.text}"
    result: dict[str, Any] = done.json()
    return result


@pytest.mark.parametrize("path", PATHS, ids=[f"{p.process}:{p.title[:30]}" for p in PATHS])
def test_example_path(sqlite_api: Api, path: Path) -> None:
    run_path(sqlite_api, path)


FULL_RUNS = [p for p in PATHS if "Full run" in p.title]


@pytest.mark.parametrize("path", FULL_RUNS, ids=[p.process for p in FULL_RUNS])
def test_example_full_run_on_every_database(api: Api, path: Path) -> None:
    run_path(api, path)
