"""Long and large instances: saved state stays bounded while loops run and collections grow.

The engine prunes task history nothing can look at again (engine/compaction.py) before each
save. These tests drive loops and a 300-task multi-instance to their end, over HTTP and through
the engine with a reload from saved state between steps, and check both the outcome and that
the saved state does not grow with the number of iterations.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import Api
from flows import start
from powerflow import engine
from powerflow.engine import runtime, serializer
from test_engine import load_file

FILE = "long_instances.bpmn"
MAYBE, READY, COMPLETED = 1, 16, 64  # SpiffWorkflow's task states, as saved
# A loop iteration adds about 1.4 KB to unpruned state; pruned, a loop's state is a few KB.
LOOP_STATE_LIMIT = 16_000


def _state(api: Api, instance_id: str) -> str:
    with api.store.engine.connect() as conn:
        state: str = conn.execute(
            sa.text("SELECT state FROM instances WHERE id = :id"), {"id": instance_id}
        ).scalar_one()
    return state


def _specs(state: str) -> dict[str, list[int]]:
    """Task states by task spec name, over the workflow and its subprocesses."""
    dct = json.loads(state)
    out: dict[str, list[int]] = {}
    for wf in (dct, *dct["subprocesses"].values()):
        for task in wf["tasks"].values():
            out.setdefault(task["task_spec"], []).append(task["state"])
    return out


def _task_count(state: str) -> int:
    return sum(len(states) for states in _specs(state).values())


def _complete(api: Api, clerk: dict[str, str], task_id: str, data: dict[str, Any]) -> Any:
    response = api.client.post(f"/v1/tasks/{task_id}/complete", headers=clerk, json={"data": data})
    assert response.status_code == 200, response.text
    return response.json()


def test_thousand_iteration_loop_runs_to_its_end_over_http_with_bounded_state(api: Api) -> None:
    assert api.deploy(FILE).status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "long_loop", iterations=1000)
    sizes: dict[int, int] = {}
    for n in range(1, 1001):
        (task,) = instance["tasks"]
        assert task["element_id"] == "work", n
        instance = _complete(api, clerk, task["id"], {"amount": n % 7, "note": f"round {n}"})
        if n in (10, 500, 1000):
            sizes[n] = len(_state(api, instance["id"]))
    assert instance["status"] == "completed"
    assert instance["data"]["i"] == 1000
    assert instance["data"]["total"] == sum(n % 7 for n in range(1, 1001))
    assert instance["data"]["note"] == "round 1000"
    # Unpruned, the state would be about 1.4 MB here (about 15 KB after 10 iterations).
    assert max(sizes.values()) < LOOP_STATE_LIMIT, sizes
    assert sizes[1000] < 2 * sizes[10], sizes
    # History is not lost: every completion is an event.
    with api.store.engine.connect() as conn:
        completions = conn.execute(
            sa.text(
                "SELECT count(*) FROM events WHERE instance_id = :id "
                "AND type = 'task.completed' AND element_id = 'work'"
            ),
            {"id": instance["id"]},
        ).scalar_one()
    assert completions == 1000


def test_loop_reloaded_from_saved_state_every_step(
    sqlite_api: Api, reload_every_step: None
) -> None:
    api = sqlite_api
    assert api.deploy(FILE).status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "long_loop", iterations=200)
    for n in range(1, 201):
        (task,) = instance["tasks"]
        instance = _complete(api, clerk, task["id"], {"amount": 1, "note": "ok"})
        if n % 50 == 0 and n < 200:
            specs = _specs(_state(api, instance["id"]))
            # Of the loop's user task: the ready one, the most recent completed one and the
            # predicted next one; nothing older.
            assert sorted(specs["work"]) == [MAYBE, READY, COMPLETED], (n, specs["work"])
            assert specs["inc"].count(COMPLETED) == specs["again"].count(COMPLETED) == 1, specs
    assert (instance["status"], instance["data"]["i"], instance["data"]["total"]) == (
        "completed",
        200,
        200,
    )
    assert len(_state(api, instance["id"])) < LOOP_STATE_LIMIT


def test_parallel_join_inside_a_thousand_iteration_loop(reload_every_step: None) -> None:
    """SpiffWorkflow bug E2: a parallel join in a loop checks every earlier join (quadratic) and
    hits a RecursionError at about 162 iterations; with history pruned it runs to the end."""
    process = load_file(FILE, "long_loop_parallel")
    step = engine.start(process, {"iterations": 1000})
    checks = 0
    sizes = []
    for n in range(1000):
        (task,) = step.open_tasks
        assert task.element_id == "p_work"
        step = engine.complete_task(process, step.state, task.id, {"note": str(n)})
        assert step.incident is None, (n, step.incident)
        checks += sum(
            1 for e in step.events if e.type == "task.completed" and e.element_id == "p_check"
        )
        if n % 100 == 0:
            sizes.append(len(step.state))
    assert step.status == "completed"
    assert step.data["i"] == 1000
    assert checks == 999  # the first round's check ran at the start
    assert max(sizes) < LOOP_STATE_LIMIT, sizes


def _all_ready(api: Api, user: dict[str, str], instance_id: str) -> list[dict[str, Any]]:
    """Every ready task of an instance, through the task list's pages (reading order)."""
    found: list[dict[str, Any]] = []
    while True:
        page = api.client.get(
            "/v1/tasks",
            headers=user,
            params={
                "instance_id": instance_id,
                "state": "ready",
                "limit": 100,
                "offset": len(found),
            },
        )
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        found += items
        if len(items) < 100:
            return found


def test_three_hundred_parallel_instances_complete_with_their_output_collection(
    api: Api,
) -> None:
    assert api.deploy(FILE).status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "large_mi", items=300)
    # The instance embeds the first 50 ready tasks; the task list pages through all of them.
    assert (len(instance["tasks"]), instance["tasks_total"]) == (50, 300)
    tasks = _all_ready(api, clerk, instance["id"])
    assert len(tasks) == 300 and {t["element_id"] for t in tasks} == {"m_review"}
    assert [t["id"] for t in instance["tasks"]] == [t["id"] for t in tasks[:50]]
    again = api.client.get(f"/v1/instances/{instance['id']}", headers=clerk).json()
    listed = api.client.get("/v1/instances", headers=clerk).json()["items"]
    for view in (again, next(i for i in listed if i["id"] == instance["id"])):
        assert view["tasks_total"] == 300
        assert [t["id"] for t in view["tasks"]] == [t["id"] for t in tasks[:50]]
    unpruned = len(_state(api, instance["id"]))
    order = [t["id"] for t in tasks]
    random.Random(9).shuffle(order)
    answered = []
    for n, task_id in enumerate(order):
        detail = api.client.get(f"/v1/tasks/{task_id}", headers=clerk)
        assert detail.status_code == 200, detail.text
        reviewer = detail.json()["data"]["reviewer"]
        answered.append(reviewer)
        instance = _complete(api, clerk, task_id, {"opinion": f"seen by {reviewer}"})
        assert instance["tasks_total"] == 299 - n
        assert len(instance["tasks"]) == min(50, 299 - n)
        assert task_id not in {t["id"] for t in instance["tasks"]}
        if n in (10, 260):  # the embedded page is still the task list's first page
            listed_now = [t["id"] for t in _all_ready(api, clerk, instance["id"])[:50]]
            assert [t["id"] for t in instance["tasks"]] == listed_now
    assert instance["status"] == "completed"
    assert instance["data"]["answered"] == 300
    # SpiffWorkflow appends each output item as its instance completes.
    assert instance["data"]["opinions"] == [f"seen by {r}" for r in answered]
    assert sorted(answered) == sorted(f"reviewer {k}" for k in range(300))
    # The 300 finished instances of the task are gone from the state, but for the last one.
    final = _state(api, instance["id"])
    assert len(_specs(final)["m_review [child]"]) == 1
    assert len(final) < unpruned / 2, (len(final), unpruned)


def test_loop_with_subprocess_and_timer_boundary_after_pruning(reload_every_step: None) -> None:
    """Each round runs an embedded subprocess and waits at a user task with an interrupting
    timer boundary; in round 5 the timer fires instead of the task being done."""
    process = load_file(FILE, "loop_boundary")
    step = engine.start(process, {"iterations": 12, "fast_at": 5})
    counts = []
    fired = 0
    for n in range(12):
        (task,) = step.open_tasks
        assert task.element_id == "b_handle"
        assert step.data["prepared"] == n
        if n == 5:
            assert [t.element_id for t in step.timers] == ["b_late"]
            time.sleep(0.3)
            step = engine.fire_due_timers(process, step.state)
            assert [t.id for t in step.new_tasks] != [task.id]
        else:
            step = engine.complete_task(process, step.state, task.id, {"note": str(n)})
        assert step.incident is None, (n, step.incident)
        fired += sum(1 for e in step.events if e.type == "timer.fired")
        counts.append((_task_count(step.state), len(json.loads(step.state)["subprocesses"])))
    assert step.status == "completed"
    assert (step.data["i"], step.data["escalations"], fired) == (12, 1, 1)
    # Bounded: neither tasks nor subprocesses pile up with the rounds.
    assert max(c[0] for c in counts[3:]) <= counts[2][0] + 4, counts
    assert max(c[1] for c in counts) <= 1, counts


def test_reset_to_the_most_recent_task_of_an_element_after_pruning() -> None:
    """Moving the token back to the latest completed task of an element (SpiffWorkflow's
    ``reset_from_task_id``) still gives it the data it started from: its parent is kept."""
    process = load_file(FILE, "long_loop")
    step = engine.start(process, {"iterations": 100})
    step = _continue(process, step, 30, amount=2)
    workflow = serializer.load_state(process, step.state)
    done = [
        t for t in workflow.tasks.values() if t.task_spec.name == "work" and t.state == COMPLETED
    ]
    assert 1 <= len(done) < 10  # older iterations were pruned
    latest = max(done, key=lambda t: t.last_state_change)
    workflow.reset_from_task_id(latest.id)
    workflow.do_engine_steps()
    ready = runtime.ready_human_tasks(workflow)
    assert [(t.task_spec.name, t.data["i"], t.data["total"]) for t in ready] == [("work", 29, 58)]


def test_a_deep_state_saved_before_pruning_is_compacted_on_its_next_step(
    monkeypatch: pytest.MonkeyPatch, reload_every_step: None
) -> None:
    process = load_file(FILE, "long_loop")
    with monkeypatch.context() as patch:
        # Saved as by a version without pruning.
        patch.setattr(runtime, "compact", lambda workflow, always: 0)
        step = _continue(process, engine.start(process, {"iterations": 200}), 150)
    deep = step.state
    assert len(_specs(deep)["work"]) > 150
    (task,) = step.open_tasks
    step = engine.complete_task(process, deep, task.id, {"amount": 1, "note": "x"})
    assert len(step.state) < LOOP_STATE_LIMIT < len(deep)
    assert sorted(_specs(step.state)["work"]) == [MAYBE, READY, COMPLETED]
    step = _continue(process, step, 49)
    assert (step.status, step.data["i"], step.data["total"]) == ("completed", 200, 200)


def _continue(process: engine.LoadedProcess, step: Any, steps: int, amount: int = 1) -> Any:
    """Complete the loop's one ready task ``steps`` times."""
    for _ in range(steps):
        (task,) = step.open_tasks
        step = engine.complete_task(process, step.state, task.id, {"amount": amount, "note": "x"})
        assert step.incident is None, step.incident
    return step


def test_saved_state_is_the_document_spiffworkflow_writes() -> None:
    """engine/task_converter.py writes task entries faster; the text must be SpiffWorkflow's."""
    stock = serializer.reference_serializer()
    fast = serializer.SERIALIZER
    large = load_file(FILE, "large_mi")
    step = engine.start(large, {"items": 20})
    for task in step.open_tasks[:7]:
        step = engine.complete_task(large, step.state, task.id, {"opinion": "fine"})
    boundary = load_file(FILE, "loop_boundary")
    looped = engine.start(boundary, {"iterations": 5, "fast_at": -1})
    for _ in range(2):
        looped = engine.complete_task(boundary, looped.state, looped.open_tasks[0].id, {})
    for process, state in ((large, step.state), (boundary, looped.state)):
        workflow = serializer.load_state(process, state)
        written = serializer.dump_state(process, workflow)
        try:
            serializer.SERIALIZER = stock
            assert serializer.dump_state(process, workflow) == written
        finally:
            serializer.SERIALIZER = fast
        assert json.loads(written)["subprocesses"] or process is large


def test_saved_state_is_spiffworkflows_document_for_every_test_model() -> None:
    """The same comparison over the states of every model the walk test runs (embedded
    subprocesses, call activities, event subprocesses, loops, boundary events, transactions,
    multi-instance), at each step."""
    from test_fast_walks import model_states

    stock = serializer.reference_serializer()
    fast = serializer.SERIALIZER
    compared = with_subprocesses = 0
    for name, process, state in model_states(12):
        workflow = serializer.load_state(process, state)
        written = serializer.dump_state(process, workflow)
        try:
            serializer.SERIALIZER = stock
            assert serializer.dump_state(process, workflow) == written, name
        finally:
            serializer.SERIALIZER = fast
        compared += 1
        with_subprocesses += bool(json.loads(written)["subprocesses"])
    assert compared >= 50, compared
    assert with_subprocesses >= 15, with_subprocesses


def test_one_tasks_entry_is_spiffworkflows_for_every_task_of_every_test_model() -> None:
    """The single-task writer (``FastTaskConverter``, which the registry uses for a task met
    outside a workflow's own mapping) gives SpiffWorkflow's entry for every task, at each step,
    roots and tasks whose parent is in a subprocess included."""
    from test_fast_walks import model_states

    stock = serializer.reference_serializer().registry
    fast = serializer.SERIALIZER.registry
    compared = 0
    for name, process, state in model_states(6):
        workflow = serializer.load_state(process, state)
        tasks = [*workflow.tasks.values()]
        for sub in workflow.subprocesses.values():
            tasks.extend(sub.tasks.values())
        for registry in (stock, fast):
            registry._encoder_mode = True
        try:
            for task in tasks:
                assert fast.convert(task) == stock.convert(task), (name, task.task_spec.name)
                compared += 1
        finally:
            for registry in (stock, fast):
                registry._encoder_mode = False
    assert compared >= 900, compared
