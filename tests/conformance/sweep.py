"""Sweep models beyond the corpus through a real service, to find what a held-back set of files
from the same sources would expose (issue 9, "Done means").

Reads the BPMN/DMN files straight from local git copies of the two sources:

* SpiffWorkflow (github.com/sartography/SpiffWorkflow): every ``tests/SpiffWorkflow/**`` .bpmn
  and .dmn that the corpus (manifest.tsv) does not already hold;
* the OMG MIWG test suite (github.com/bpmn-miwg/bpmn-miwg-test-suite): the tool-export folders
  (everything but ``Reference/``, which the corpus holds), ``--per-tool`` files per folder.

Each SpiffWorkflow file is uploaded together with the files of its folder tree that define the
processes it calls and the decisions it evaluates (one bundle). Each upload goes to an in-process
service on a real SQLite file (the TestClient, as tests/conftest.py's ``api`` fixture):
``POST /v1/definitions?purpose=deploy&accept_any_data=true``; every startable process is
started and driven generically for at most ``--steps`` steps: ready tasks
completed with data that matches their form, the messages it waits for delivered (empty
payload), external tasks fetched and completed as a worker (no variables), timers due
within two seconds waited for and fired. Any 5xx (or an exception that
escapes the app) is recorded with its traceback. Then the file is uploaded again with
``?purpose=view``, to a second service (a view-only version in the first would stand in the
way of a later bundle that holds the same file: an identical file deploys nothing new).

Every file is also parsed and run by SpiffWorkflow alone (the parser of the SpiffWorkflow test
folder: spiff/ -> SpiffBpmnParser, camunda/ -> CamundaParser, else BpmnDmnParser or
BpmnParser; engine steps, ready human tasks completed with no data; at most 10 s), so a refusal
by powerflow can be compared with what the engine core does.

Usage (the two git directories as the ``fetch`` tool or ``git clone --bare`` leave them)::

    .venv/bin/python tests/conformance/sweep.py --spiff SPIFF.git --miwg MIWG.git \
        [--per-tool 6] [--only SUBSTRING] [--out sweep.json]

It prints one line per file and the counts at the end; ``--out`` writes every record as JSON.
Exit status 1 when any request answered 5xx.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi.testclient import TestClient

from powerflow.app import create_app
from powerflow.services import auth
from powerflow.services.errors import InvalidInput
from powerflow.settings import Settings
from powerflow.workers import fire_due_timers

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "pf_sweep_admin_token"
SPIFF_ROOT = "tests/SpiffWorkflow/"
CALLED = re.compile(rb'calledElement="([^"]+)"')
PROCESS_ID = re.compile(rb'<(?:\w+:)?process\b[^>]*?\bid="([^"]+)"')
DECISION_REF = re.compile(rb'(?:calledDecisionId|decisionRef)\s*(?:=\s*"|>)\s*([^"<\s]+)')
DECISION_ID = re.compile(rb'<(?:\w+:)?decision\b[^>]*?\bid="([^"]+)"')


@dataclass
class Record:
    """What happened to one file."""

    source: str
    path: str
    bundle: list[str]
    deploy_status: int = 0
    deploy_problems: list[str] = field(default_factory=list)
    view_status: int = 0
    view_problems: list[str] = field(default_factory=list)
    definitions: list[dict[str, Any]] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    spiff: str = ""

    @property
    def deployable(self) -> bool:
        return any(d["startable"] for d in self.definitions)

    @property
    def ran_to_end(self) -> bool:
        return any(s.get("final") == "completed" for s in self.starts)


# -- sources -------------------------------------------------------------------------------------
def git_files(git_dir: str, pattern: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", git_dir, "ls-tree", "-r", "--name-only", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(p for p in out.splitlines() if re.search(pattern, p))


def git_read(git_dir: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"HEAD:{path}"], check=True, capture_output=True
    ).stdout


def corpus_sources() -> set[str]:
    with (HERE / "corpus" / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        return {r["source_path"] for r in csv.DictReader(f, delimiter="\t")}


def spiff_bundles(git_dir: str) -> list[tuple[str, list[str]]]:
    """(file, bundle) for every SpiffWorkflow test model not in the corpus: the file with the
    files of the same top folder (tests/SpiffWorkflow/<area>/) that define what it calls."""
    paths = git_files(git_dir, r"^tests/SpiffWorkflow/.*\.(bpmn|dmn)$")
    content = {p: git_read(git_dir, p) for p in paths}
    defines: dict[bytes, list[str]] = defaultdict(list)
    for p, xml in content.items():
        for ident in PROCESS_ID.findall(xml) + DECISION_ID.findall(xml):
            defines[ident].append(p)

    def area(p: str) -> str:
        return "/".join(p.split("/")[:3])

    def provider(ident: bytes, near: str) -> str | None:
        found = [p for p in defines.get(ident, []) if area(p) == area(near)]
        if not found:
            return None
        here = str(PurePosixPath(near).parent)
        return sorted(found, key=lambda p: (not p.startswith(here), len(p), p))[0]

    done = corpus_sources()
    result = []
    for p in paths:
        if p in done:
            continue
        bundle, todo = [p], [p]
        while todo:
            xml = content[todo.pop()]
            for ident in CALLED.findall(xml) + DECISION_REF.findall(xml):
                other = provider(ident, p)
                if other and other not in bundle:
                    bundle.append(other)
                    todo.append(other)
        result.append((p, bundle))
    return result


def miwg_files(git_dir: str, per_tool: int) -> list[str]:
    by_tool: dict[str, list[str]] = defaultdict(list)
    for p in git_files(git_dir, r"\.bpmn$"):
        tool = p.split("/")[0]
        if tool != "Reference" and "/" in p:
            by_tool[tool].append(p)
    return [p for tool in sorted(by_tool) for p in by_tool[tool][:per_tool]]


# -- the service ---------------------------------------------------------------------------------
class Service:
    """An in-process service on a real SQLite file; every request recorded, 5xx included."""

    def __init__(self, db: Path) -> None:
        settings = Settings(  # type: ignore[call-arg]
            database_url=f"sqlite:///{db}",
            admin_token=ADMIN_TOKEN,
            deploy_examples=False,
            timer_poll_seconds=0.2,
        )
        self.client = TestClient(create_app(settings, run_workers=False))
        self.client.__enter__()
        self.store = self.client.app.state.store  # type: ignore[attr-defined]
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self._users: dict[str, dict[str, str]] = {}
        self.errors: list[str] = []

    def user(self, roles: str) -> dict[str, str]:
        if roles not in self._users:
            token = auth.add_user(self.store, f"s{uuid.uuid4().hex[:8]}", roles)
            self._users[roles] = {"Authorization": f"Bearer {token}"}
        return self._users[roles]

    def call(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        try:
            response = self.client.request(method, url, **kwargs)
        except Exception:
            self.errors.append(f"{method} {url}: {traceback.format_exc()}")
            return 500, None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 500:
            self.errors.append(f"{method} {url} -> {response.status_code}: {response.text}")
        return response.status_code, body


def value_for(field_: dict[str, Any]) -> Any:
    if field_.get("options"):
        return field_["options"][0].get("id", field_["options"][0].get("value"))
    kind = field_.get("type", "string")
    if field_.get("default") not in (None, ""):
        return field_["default"]
    if kind in ("boolean", "bool"):
        return True
    if kind in ("long", "integer", "number", "double", "float"):
        lo = field_.get("limits", {}).get("min")
        return int(lo) if lo is not None else 1
    if kind == "date":
        return "2026-01-01"
    return "x"


def _work_external(svc: Service, instance_id: str) -> bool:
    """Complete one open external task of the instance as a worker would (no variables)."""
    status, body = svc.call(
        "GET",
        "/v1/external-tasks",
        headers=svc.admin,
        params={"instance_id": instance_id, "state": "open"},
    )
    if status != 200 or not body["items"]:
        return False
    worker = svc.user("worker")
    topic = body["items"][0]["topic"]
    status, locked = svc.call(
        "POST",
        "/v1/external-tasks/fetch-and-lock",
        headers=worker,
        json={"worker_id": "sweep", "topics": [{"name": topic, "lock_duration": 60000}]},
    )
    if status != 200 or not locked:
        return False
    status, _ = svc.call(
        "POST",
        f"/v1/external-tasks/{locked[0]['id']}/complete",
        headers=worker,
        json={"worker_id": "sweep", "variables": {}},
    )
    return status == 204


def drive(svc: Service, key: str, steps: int) -> dict[str, Any]:
    """Start ``key`` and drive it; what happened."""
    clerk = svc.user("clerk")
    status, body = svc.call(
        "POST", "/v1/instances", headers=clerk, json={"definition_key": key, "variables": {}}
    )
    result: dict[str, Any] = {"key": key, "start_status": status}
    if status != 201:
        result["final"] = "refused"
        result["reason"] = body.get("detail") if isinstance(body, dict) else str(body)[:300]
        return result
    instance = body
    delivered: set[str] = set()
    for _ in range(steps):
        if instance["status"] != "running":
            break
        if instance["incident"]:
            break
        if instance["tasks"]:
            task = instance["tasks"][0]
            status, detail = svc.call("GET", f"/v1/tasks/{task['id']}", headers=svc.admin)
            if status != 200:
                break
            data = {f["id"]: value_for(f) for f in detail["form"] if not f.get("readonly")}
            roles = ",".join(sorted({"clerk", *detail["roles"]}))
            try:
                who = svc.user(roles)
            except InvalidInput as exc:  # a role no user can be given: no one can do the task
                result["complete_refused"] = f"no user can hold the task's roles: {exc}"
                break
            status, body = svc.call(
                "POST", f"/v1/tasks/{task['id']}/complete", headers=who, json={"data": data}
            )
            if status != 200:
                result["complete_refused"] = body
                break
            instance = body
            continue
        waiting = [m for m in instance["waiting_messages"] if m not in delivered]
        if waiting:
            delivered.add(waiting[0])
            status, body = svc.call(
                "POST",
                f"/v1/instances/{instance['id']}/messages",
                headers=clerk,
                json={"name": waiting[0], "payload": {}},
            )
            if status == 200:
                instance = body
            continue
        if _work_external(svc, instance["id"]):
            status, body = svc.call("GET", f"/v1/instances/{instance['id']}", headers=svc.admin)
            if status != 200:
                break
            instance = body
            continue
        due = instance["next_timer_at"]
        if due is not None:
            wait = (datetime.fromisoformat(due) - datetime.now(UTC)).total_seconds()
            if wait > 2:
                break
            time.sleep(max(wait, 0) + 0.05)
            fire_due_timers(svc.store)
            status, body = svc.call("GET", f"/v1/instances/{instance['id']}", headers=svc.admin)
            if status != 200:
                break
            instance = body
            continue
        break
    result["final"] = instance["status"]
    if instance["status"] == "running":
        result["waiting"] = {
            "tasks": [t["element_id"] for t in instance["tasks"]],
            "messages": instance["waiting_messages"],
            "timer": instance["next_timer_at"],
        }
    if instance["incident"]:
        result["incident"] = instance["incident"]["message"][:300]
    return result


def sweep_one(
    svc: Service,
    source: str,
    path: str,
    bundle: list[tuple[str, bytes]],
    steps: int,
    viewer: Service | None = None,
) -> Record:
    rec = Record(source, path, [name for name, _ in bundle])
    svc.errors = []
    designer = svc.user("designer")
    parts = [("file", (PurePosixPath(name).name, xml)) for name, xml in bundle]
    status, body = svc.call(
        "POST",
        "/v1/definitions",
        params={"purpose": "deploy", "accept_any_data": "true"},
        headers=designer,
        files=parts,
    )
    rec.deploy_status = status
    if status in (200, 201):
        for d in body["definitions"]:
            rec.definitions.append(
                {
                    "key": d["key"],
                    "kind": d["kind"],
                    "startable": d["kind"] == "process" and d["executable"],
                    "reason": d["not_executable_reason"],
                }
            )
    elif isinstance(body, dict):
        rec.deploy_problems = [
            f"{p.get('process_id')}/{p.get('element_id')}: {p.get('message')}"
            for p in body.get("problems", [])
        ] or [str(body.get("detail"))]
    own = {i.decode() for i in PROCESS_ID.findall(bundle[0][1])}
    for d in rec.definitions:
        if d["startable"] and d["key"] in own:
            rec.starts.append(drive(svc, d["key"], steps))
    viewer = viewer or svc
    viewer.errors = []
    status, body = viewer.call(
        "POST",
        "/v1/definitions",
        params={"purpose": "view"},
        headers=viewer.user("designer"),
        files=parts[:1],
    )
    svc.errors += viewer.errors
    rec.view_status = status
    if status >= 400 and isinstance(body, dict):
        rec.view_problems = [
            f"{p.get('process_id')}/{p.get('element_id')}: {p.get('message')}"
            for p in body.get("problems", [])
        ] or [str(body.get("detail"))]
    rec.server_errors = list(svc.errors)
    return rec


# -- SpiffWorkflow alone -------------------------------------------------------------------------
def spiff_alone(path: str, bundle: list[tuple[str, bytes]], steps: int) -> str:
    """Parse and run the file with SpiffWorkflow's own parser for its folder (at most 10 s:
    a process that calls itself never ends there)."""

    def too_long(*_: object) -> None:
        raise TimeoutError("still running after 10 s")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(10)
    try:
        return _spiff_alone(path, bundle, steps)
    finally:
        signal.alarm(0)


def _spiff_alone(path: str, bundle: list[tuple[str, bytes]], steps: int) -> str:
    from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: TID251 (the comparison runs the engine core alone)
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser  # noqa: TID251 (the comparison runs the engine core alone)
    from SpiffWorkflow.util.task import TaskState  # noqa: TID251 (the comparison runs the engine core alone)

    try:
        if "/spiff/" in path:
            from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: TID251 (the comparison runs the engine core alone)

            parser: BpmnParser = SpiffBpmnParser()
        elif "/camunda/" in path:
            from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser  # noqa: TID251 (the comparison runs the engine core alone)

            parser = CamundaParser()
        else:
            from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser as Plain  # noqa: TID251 (the comparison runs the engine core alone)
            from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser  # noqa: TID251 (the comparison runs the engine core alone)

            parser = BpmnDmnParser() if any(n.endswith(".dmn") for n, _ in bundle) else Plain()
        from lxml import etree

        # decision tables first, as powerflow does: business rule tasks are built with them
        for name, xml in sorted(bundle, key=lambda f: not f[0].endswith(".dmn")):
            tree = etree.fromstring(xml)
            if name.endswith(".dmn"):
                parser.add_dmn_xml(tree, filename=name)  # type: ignore[attr-defined]
            else:
                parser.add_bpmn_xml(tree, filename=name)
        ids = parser.get_process_ids()
        own = {i.decode() for i in PROCESS_ID.findall(bundle[0][1])}
        ids = [i for i in ids if i in own] or ids
        if not ids:
            return "no executable process"
        spec = parser.get_spec(ids[0])
        subs = parser.get_subprocess_specs(ids[0])
        wf = BpmnWorkflow(spec, subs)
        for _ in range(steps):
            wf.do_engine_steps()
            if wf.is_completed():
                return "completed"
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                wf.refresh_waiting_tasks()
                wf.do_engine_steps()
                if wf.is_completed():
                    return "completed"
                if not wf.get_tasks(state=TaskState.READY, manual=True):
                    return "waiting"
                continue
            ready[0].run()
        return "steps exhausted"
    except Exception as exc:  # what the engine core says is the point
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


# -- main ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spiff", help="git dir of sartography/SpiffWorkflow")
    parser.add_argument("--miwg", help="git dir of bpmn-miwg/bpmn-miwg-test-suite")
    parser.add_argument("--per-tool", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--only", default="")
    parser.add_argument("--out")
    args = parser.parse_args()

    work: list[tuple[str, str, list[tuple[str, bytes]]]] = []
    if args.spiff:
        for p, names in spiff_bundles(args.spiff):
            work.append(("spiff", p, [(n, git_read(args.spiff, n)) for n in names]))
    if args.miwg:
        for p in miwg_files(args.miwg, args.per_tool):
            work.append(("miwg", p, [(p, git_read(args.miwg, p))]))
    work = [w for w in work if args.only in w[1]]

    records: list[Record] = []
    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(Path(tmp) / "sweep.db")
        viewer = Service(Path(tmp) / "view.db")
        for source, path, bundle in work:
            rec = sweep_one(svc, source, path, bundle, args.steps, viewer)
            rec.spiff = spiff_alone(path, bundle, args.steps)
            records.append(rec)
            finals = ",".join(str(s.get("final")) for s in rec.starts) or "-"
            flag = " 5XX" if rec.server_errors else ""
            why = [
                str(s.get("reason") or s.get("incident") or s.get("waiting") or "")[:160]
                for s in rec.starts
                if s.get("final") != "completed"
            ] + rec.deploy_problems[:2]
            print(
                f"{rec.deploy_status} {rec.view_status} {finals:<20} {path}"
                f"{' | spiff: ' + rec.spiff if rec.spiff else ''}{flag}"
                + "".join(f"\n      {w}" for w in why if w),
                flush=True,
            )
        svc.client.__exit__(None, None, None)
        viewer.client.__exit__(None, None, None)

    fives = [r for r in records if r.server_errors]
    counts = {
        "files": len(records),
        "deployable": sum(r.deployable for r in records),
        "ran_to_end": sum(r.ran_to_end for r in records),
        "refused_with_reason": sum(
            (r.deploy_status == 422 and bool(r.deploy_problems))
            or (
                bool(r.definitions)
                and not r.deployable
                and all(d["reason"] for d in r.definitions if d["kind"] == "process")
            )
            for r in records
        ),
        "server_errors": len(fives),
        "spiff_completed": sum(r.spiff == "completed" for r in records),
    }
    for r in fives:
        print(f"\n=== 5xx: {r.path}\n" + "\n".join(r.server_errors), file=sys.stderr)
    print(json.dumps(counts))
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {"counts": counts, "records": [asdict(r) for r in records]}, indent=1, default=str
            )
        )
    return 1 if fives else 0


if __name__ == "__main__":
    raise SystemExit(main())
