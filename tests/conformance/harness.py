"""Drive one corpus file over the HTTP API: deploy, start, read ready tasks, complete them,
deliver messages, fire timers. Every request goes through ``Run.call``, which fails the test on
any 5xx answer."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from conftest import Api
from powerflow.workers import fire_due_timers

CORPUS = Path(__file__).resolve().parent / "corpus"
HELDBACK = Path(__file__).resolve().parent / "heldback"


@dataclass(frozen=True)
class Row:
    """One manifest row."""

    file: str
    role: str
    executable: str
    expected_outcome: str
    notes: str

    @property
    def path(self) -> Path:
        return CORPUS / self.file

    @property
    def name(self) -> str:
        return Path(self.file).name


def manifest() -> list[Row]:
    """Every row of the corpus manifest, in file order."""
    with (CORPUS / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        return [
            Row(r["file"], r["role"], r["executable"], r["expected_outcome"], r["notes"])
            for r in csv.DictReader(f, delimiter="\t")
        ]


@dataclass
class Run:
    """One driven scenario on a fresh service (the ``api`` fixture)."""

    api: Api
    instance: dict[str, Any] = field(default_factory=dict)
    root: Path = CORPUS  # where the files it uploads are (heldback/ for the held-back models)
    _users: dict[frozenset[str], dict[str, str]] = field(default_factory=dict)

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; never a 5xx (the conformance suite's first rule)."""
        response = self.api.client.request(method, url, **kwargs)
        assert response.status_code < 500, (
            f"{method} {url} -> {response.status_code}: {response.text}"
        )
        return response

    def user(self, *roles: str) -> dict[str, str]:
        """A clerk who also holds ``roles`` (a task's lane or candidate groups)."""
        key = frozenset(("clerk", *roles))
        if key not in self._users:
            self._users[key] = self.api.user(",".join(sorted(key)))
        return self._users[key]

    # -- definitions -------------------------------------------------------------------------
    def upload(self, *files: str, **params: Any) -> httpx.Response:
        """Upload each corpus file in turn (the last answer is returned)."""
        designer = self.api.user("designer")
        response: httpx.Response | None = None
        for file in files:
            path = self.root / file
            response = self.call(
                "POST",
                "/v1/definitions",
                params=params,
                headers=designer,
                files={"file": (path.name, path.read_bytes())},
            )
        assert response is not None
        return response

    def deploy(self, *files: str) -> list[dict[str, Any]]:
        """Deploy files as SpiffWorkflow's tests load them: processes that declare no data
        accept what the test puts in (``accept_any_data``). Returns the definitions."""
        found: list[dict[str, Any]] = []
        for file in files:
            response = self.upload(file, accept_any_data="true")
            assert response.status_code in (200, 201), response.text
            found += response.json()["definitions"]
        return found

    def key(self, file: str) -> str:
        """Deploy ``file`` and return its only startable process key."""
        keys = [d["key"] for d in self.deploy(file) if d["executable"]]
        assert len(keys) == 1, keys
        return str(keys[0])

    def deploy_bundle(self, *files: str) -> list[dict[str, Any]]:
        """Deploy files together in one upload (several multipart ``file`` parts), as a
        designer uploads a process with the files it calls. Returns the definitions."""
        parts = [("file", ((self.root / f).name, (self.root / f).read_bytes())) for f in files]
        response = self.call(
            "POST",
            "/v1/definitions",
            params={"accept_any_data": "true"},
            headers=self.api.user("designer"),
            files=parts,
        )
        assert response.status_code == 201, response.text
        definitions: list[dict[str, Any]] = response.json()["definitions"]
        return definitions

    # -- instances ---------------------------------------------------------------------------
    def start(self, key: str, **variables: Any) -> dict[str, Any]:
        """Start an instance of ``key`` with ``variables``."""
        response = self.call(
            "POST",
            "/v1/instances",
            headers=self.user(),
            json={"definition_key": key, "variables": variables},
        )
        assert response.status_code == 201, response.text
        self.instance = response.json()
        return self.instance

    def read(self) -> dict[str, Any]:
        """The instance as it is now."""
        response = self.call("GET", f"/v1/instances/{self.instance['id']}", headers=self.api.admin)
        assert response.status_code == 200, response.text
        self.instance = response.json()
        return self.instance

    @property
    def status(self) -> str:
        return str(self.instance["status"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.instance["data"])

    @property
    def incident(self) -> dict[str, Any] | None:
        incident: dict[str, Any] | None = self.instance["incident"]
        return incident

    def ready(self) -> list[str]:
        """Element ids of the ready tasks, in the order the API lists them."""
        return [t["element_id"] for t in self.instance["tasks"]]

    def listed(self) -> list[str]:
        """Element ids of the instance's ready tasks as ``GET /v1/tasks`` lists them."""
        response = self.call(
            "GET",
            "/v1/tasks",
            headers=self.api.admin,
            params={"instance_id": self.instance["id"], "state": "ready"},
        )
        assert response.status_code == 200, response.text
        return [t["element_id"] for t in response.json()["items"]]

    def task(self, element_id: str, index: int = 0) -> dict[str, Any]:
        """The ``index``-th ready task at ``element_id``, read with its data."""
        found = [t for t in self.instance["tasks"] if t["element_id"] == element_id]
        assert len(found) > index, f"{element_id} is not ready: {self.ready()}"
        response = self.call("GET", f"/v1/tasks/{found[index]['id']}", headers=self.api.admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def complete(self, element_id: str, index: int = 0, **data: Any) -> dict[str, Any]:
        """Complete the ``index``-th ready task at ``element_id`` with ``data``."""
        task = self.task(element_id, index)
        response = self.call(
            "POST",
            f"/v1/tasks/{task['id']}/complete",
            headers=self.user(*task["roles"]),
            json={"data": data},
        )
        assert response.status_code == 200, response.text
        self.instance = response.json()
        return self.instance

    def deliver(self, name: str, **payload: Any) -> dict[str, Any]:
        """Deliver message ``name`` to this instance."""
        response = self.call(
            "POST",
            f"/v1/instances/{self.instance['id']}/messages",
            headers=self.user(),
            json={"name": name, "payload": payload},
        )
        assert response.status_code == 200, response.text
        self.instance = response.json()
        return self.instance

    def send(self, name: str, **body: Any) -> dict[str, Any]:
        """Send message ``name`` through the message router (``POST /v1/messages``, with
        ``correlation``, ``payload``... in ``body``); returns its row in the message log."""
        response = self.call(
            "POST", "/v1/messages", headers=self.user(), json={"name": name, **body}
        )
        assert response.status_code == 200, response.text
        sent: dict[str, Any] = response.json()
        return sent

    def messages(self, name: str) -> list[dict[str, Any]]:
        """The message log's rows for ``name``, oldest first."""
        response = self.call(
            "GET", "/v1/messages", headers=self.api.admin, params={"name": name, "limit": 200}
        )
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["items"]))

    def move(self, to_element: str, reason: str) -> dict[str, Any]:
        """An administrator moves the token back to ``to_element`` (``POST .../move``)."""
        response = self.call(
            "POST",
            f"/v1/instances/{self.instance['id']}/move",
            headers=self.api.admin,
            json={"to_element": to_element, "reason": reason},
        )
        assert response.status_code == 200, response.text
        self.instance = response.json()
        return self.instance

    def incidents(self) -> list[dict[str, Any]]:
        """The instance's incident history."""
        response = self.call(
            "GET", f"/v1/instances/{self.instance['id']}/incidents", headers=self.api.admin
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def wait_for_timers(self, seconds: float) -> dict[str, Any]:
        """Let ``seconds`` of real time pass (SpiffWorkflow reads the wall clock), then run
        the service's timer worker, as its loop would, until no timer of the instance is due."""
        time.sleep(seconds)
        deadline = time.monotonic() + 5  # a loaded machine: the worker may need another round
        while True:
            fire_due_timers(self.api.store)
            due = self.read()["next_timer_at"]
            late = due is not None and datetime.fromisoformat(due) <= datetime.now(UTC)
            if not late or time.monotonic() > deadline:
                return self.instance
            time.sleep(0.05)

    def event_rows(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(type, element id, payload) of the instance's recorded events, in order."""
        response = self.call(
            "GET",
            f"/v1/instances/{self.instance['id']}/events",
            headers=self.api.admin,
            params={"limit": 500},
        )
        assert response.status_code == 200, response.text
        return [(e["type"], e["element_id"], e["payload"]) for e in response.json()["items"]]

    def events(self) -> list[tuple[str, str | None]]:
        """(type, element id) of the instance's recorded events, in order."""
        return [(kind, element) for kind, element, _ in self.event_rows()]
