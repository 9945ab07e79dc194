"""Two clerks completing the same task at the same moment, against a real server."""

from __future__ import annotations

import threading

import httpx
import pytest

from conftest import DATA, Server

ROUNDS = 8


@pytest.mark.e2e
def test_exactly_one_of_two_concurrent_completions_wins(server: Server) -> None:
    designer = server.user("designer")
    alice = server.user("clerk,clerk-office", "alice")
    bob = server.user("clerk,clerk-office", "bob")
    with httpx.Client(base_url=server.url, timeout=30) as setup:
        deployed = setup.post(
            "/v1/definitions",
            headers=designer,
            files={"file": ("t.bpmn", (DATA / "three_tasks.bpmn").read_bytes())},
        )
        assert deployed.status_code == 201, deployed.text
        for _ in range(ROUNDS):
            instance = setup.post(
                "/v1/instances", headers=alice, json={"definition_key": "three_tasks"}
            ).json()
            task_id = instance["tasks"][0]["id"]
            barrier = threading.Barrier(2)
            results: dict[str, httpx.Response] = {}

            def complete(
                name: str,
                headers: dict[str, str],
                task: str = task_id,
                gate: threading.Barrier = barrier,
                out: dict[str, httpx.Response] = results,
            ) -> None:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    client.get("/v1/me", headers=headers)  # open the connection first
                    gate.wait()
                    out[name] = client.post(
                        f"/v1/tasks/{task}/complete", headers=headers, json={"data": {"by": name}}
                    )

            threads = [
                threading.Thread(target=complete, args=("alice", alice)),
                threading.Thread(target=complete, args=("bob", bob)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            codes = sorted(r.status_code for r in results.values())
            assert codes == [200, 409], {k: (r.status_code, r.text) for k, r in results.items()}
            loser = next(r for r in results.values() if r.status_code == 409)
            assert "completed" in loser.json()["detail"]
            winner = next(name for name, r in results.items() if r.status_code == 200)

            events = setup.get(f"/v1/instances/{instance['id']}/events", headers=alice).json()[
                "items"
            ]
            completions = [e for e in events if e["type"] == "task.completed"]
            assert len(completions) == 1
            assert completions[0]["actor"] == winner
            assert completions[0]["payload"]["data"] == {"by": winner}
            state = setup.get(f"/v1/instances/{instance['id']}", headers=alice).json()
            assert [t["element_id"] for t in state["tasks"]] == ["second"]
            assert state["data"]["by"] == winner
