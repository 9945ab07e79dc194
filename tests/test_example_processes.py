"""The example processes in processes/ run end to end through the HTTP API, following every
path that processes/README.md documents (the README's tables are the test data)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from conftest import ROOT, Api

README = (ROOT / "processes" / "README.md").read_text()
TICKED = re.compile(r"`([^`]+)`")


@dataclass
class Step:
    element_id: str
    roles: list[str]
    data: dict[str, object]


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
            current.steps.append(Step(element, roles, data))
            if "Full run" in current.title:
                full_runs[process] = current.steps
        elif line.startswith("| — |"):
            current.end_event = TICKED.search(line).group(1)  # type: ignore[union-attr]
    return [p for p in paths if p.steps]


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
        done = api.client.post(
            f"/v1/tasks/{task['id']}/complete",
            headers=as_role(step.roles[0]),
            json={"data": step.data},
        )
        assert done.status_code == 200, f"step {number}: {done.text}"
        instance = done.json()
    assert instance["status"] == "completed"
    assert instance["tasks"] == []
    events = api.client.get(
        f"/v1/instances/{instance['id']}/events?limit=1000", headers=api.admin
    ).json()["items"]
    assert events[-1]["type"] == "instance.completed"
    assert events[-1]["element_id"] == path.end_event
    human = [e for e in events if e["type"] == "task.completed" and e["actor"] != "system"]
    assert [e["element_id"] for e in human] == [s.element_id for s in path.steps]
    assert [e["payload"]["role"] for e in human] == [s.roles[0] for s in path.steps]


@pytest.mark.parametrize("path", PATHS, ids=[f"{p.process}:{p.title[:30]}" for p in PATHS])
def test_example_path(sqlite_api: Api, path: Path) -> None:
    run_path(sqlite_api, path)


FULL_RUNS = [p for p in PATHS if "Full run" in p.title]


@pytest.mark.parametrize("path", FULL_RUNS, ids=[p.process for p in FULL_RUNS])
def test_example_full_run_on_every_database(api: Api, path: Path) -> None:
    run_path(api, path)
