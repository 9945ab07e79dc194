"""Defects the sweep beyond the corpus found (tests/conformance/sweep.py, docs/bpmn-support.md
"Beyond the corpus"), each driven over HTTP. Files: tests/data/heldback/ (README.md there)."""

from __future__ import annotations

from pathlib import Path

from conftest import DATA, Api
from powerflow.engine.scripting import RESTRICTED_ENGINE, ScriptRejected, compile_script

HELD = DATA / "heldback"


def _upload(api: Api, *paths: Path, **params: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = api.client.post(
        "/v1/definitions",
        params={"accept_any_data": "true", **params},
        headers=api.user("designer"),
        files=[("file", (p.name, p.read_bytes())) for p in paths],
    )
    assert response.status_code < 500, response.text
    return response.status_code, response.json()


def test_a_dmn_1_2_table_deploys_and_a_business_rule_task_evaluates_it(api: Api) -> None:
    """DMN 1.2 (namespace 20180521) files were a 500: SpiffWorkflow 3.2's DMN 1.2 schema
    cannot be built (its DMNDI12.xsd is the DI schema). They validate and run now."""
    status, body = _upload(
        api, DATA / "corpus" / "business_rule_task.bpmn", HELD / "decision_dmn12.dmn"
    )
    assert status == 201, body
    kinds = {d["key"]: d["kind"] for d in body["definitions"]}
    assert kinds == {"Process_bd2e724": "process", "decision_1": "decision"}
    started = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": "Process_bd2e724", "variables": {}},
    )
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "completed"
    assert started.json()["data"] == {"question": "X", "answer": "Y from DMN 1.2"}


def test_a_dmn_1_2_file_is_checked_against_the_schema(api: Api) -> None:
    """The repaired DMN 1.2 schema does check: an element it does not know is a 422 naming it."""
    bad = (
        (HELD / "decision_dmn12.dmn")
        .read_text()
        .replace('<output id="output_1"', '<outputs id="nonsense" /><output id="output_1"')
    )
    response = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("bad_dmn12.dmn", bad.encode())},
    )
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(
        p["message"].startswith("DMN schema:") and "outputs" in p["message"] for p in problems
    ), problems


def test_an_upstream_dmn_1_2_file_without_a_table_is_refused_with_the_reason(api: Api) -> None:
    """SpiffWorkflow's dmn_version_test/v1_2_supported file: a decision with no table."""
    status, body = _upload(api, HELD / "diagram-interchange-decision-with-listed-input-data.dmn")
    assert status == 422, body
    assert any("has no decision table" in p["message"] for p in body["problems"]), body


def test_a_bundle_whose_callee_was_deployed_unchanged_then_replaced_says_so(api: Api) -> None:
    """A bundle holds the called file unchanged since an earlier deployment, and a later
    version of the callee (here stored for viewing) is the latest: the identical file deploys
    nothing new, so the call cannot resolve. The refusal said "not in this upload", which was
    wrong; it now says what happened and what to do."""
    parent = DATA / "corpus" / "call_activity_end_event.bpmn"
    callee = DATA / "corpus" / "call_activity_call_activity.bpmn"
    assert _upload(api, callee)[0] == 201
    status, body = _upload(api, callee, purpose="view")
    assert status == 201 and body["definitions"][0]["version"] == 2
    status, body = _upload(api, parent, callee)
    assert status == 422, body
    [problem] = body["problems"]
    message = problem["message"]
    assert "not in this upload" not in message
    assert "This upload holds it (call_activity_call_activity.bpmn)" in message
    assert "deployed before as Call_Activity_Get_Data v1" in message
    assert "Call_Activity_Get_Data v2, cannot run" in message and "viewing only" in message
    assert "Change call_activity_call_activity.bpmn" in message


def test_a_script_testing_a_name_in_locals_runs(api: Api) -> None:
    """SpiffWorkflow's script_task_with_unit_tests.bpmn tests ``'hey' in locals()``. It deployed,
    then failed at run time with a bare NameError; then it was refused at upload; now the
    sandbox offers a locals() of the task data (never its guards), and it runs as upstream."""
    status, body = _upload(api, HELD / "script_task_with_unit_tests.bpmn", purpose="run")
    assert status == 201, body
    (definition,) = body["definitions"]
    started = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": definition["key"], "variables": {}},
    )
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "completed"
    assert started.json()["data"] == {"hey": True}


def test_locals_never_hands_out_the_guards() -> None:
    """A real locals() would be the sandbox's globals: its guards could be read or replaced."""
    context: dict[str, object] = {"amount": 5}
    script = "names = sorted(locals())\nlocals()['_getattr_'] = None\nafter = amount + 1"
    assert RESTRICTED_ENGINE.environment.execute(script, context) is True
    assert context == {"amount": 5, "names": ["amount"], "after": 6}
    assert RESTRICTED_ENGINE.environment.evaluate("'amount' in locals()", {"amount": 1}) is True


def test_a_script_may_still_define_and_call_its_own_function_of_such_a_name() -> None:
    """Only a call to the withheld built-in is refused, not a name the script binds itself."""

    compile_script("def vars(x):\n    return x\ny = vars(1)", "exec")
    compile_script("dir = [1]\nz = len(dir)", "exec")
    try:
        compile_script("q = getattr(a, 'b')", "exec")
    except ScriptRejected as exc:
        assert "getattr() is not available" in str(exc)
    else:
        raise AssertionError("getattr() was accepted")


def _lane_task(api: Api, xml: bytes) -> tuple[dict, list[str]]:  # type: ignore[type-arg]
    response = api.client.post(
        "/v1/definitions",
        params={"accept_any_data": "true"},
        headers=api.user("designer"),
        files={"file": ("A.4.1-export.bpmn", xml)},
    )
    assert response.status_code == 201, response.text
    [runnable] = [d for d in response.json()["definitions"] if d["executable"]]
    started = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": runnable["key"], "variables": {}},
    )
    assert started.status_code == 201, started.text
    [task] = started.json()["tasks"]
    return task, [w["message"] for w in runnable["warnings"]]


def test_a_lane_whose_name_is_no_role_id_offers_its_tasks_to_a_role_that_can_be_given(
    api: Api,
) -> None:
    """MIWG bpmn.io A.4.1-export.bpmn: a runnable process whose lane is named 'Lane 1'. The
    lane name was the task's role, which no user can be given (a role id has no space), so no
    one, not even an administrator, could do the task (403 for all). The role is 'Lane_1' now,
    and the upload warns which role it is."""
    task, warnings = _lane_task(api, (HELD / "A.4.1-export.bpmn").read_bytes())
    assert task["lane"] == "Lane 1" and task["roles"] == ["Lane_1"]
    assert any("The lane 'Lane 1'" in w and "the role 'Lane_1'" in w for w in warnings)
    other = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=api.user("clerk"), json={"data": {}}
    )
    assert other.status_code in (403, 404)  # not hers (404: she does not see it)
    done = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=api.user("clerk,Lane_1"), json={"data": {}}
    )
    assert done.status_code == 200, done.text
    assert task["id"] not in [t["id"] for t in done.json()["tasks"]]


def test_a_lane_named_in_other_letters_offers_its_tasks_to_the_lane_id(api: Api) -> None:
    xml = (
        (HELD / "A.4.1-export.bpmn")
        .read_bytes()
        .replace(b'name="Lane 1"', 'name="受理科"'.encode())
    )
    task, warnings = _lane_task(api, xml)
    assert task["lane"] == "受理科" and task["roles"] == ["Lane_198nahk"]
    assert any("the role 'Lane_198nahk'" in w for w in warnings)


def test_the_sweep_tool_drives_a_bundle_and_compares_with_spiffworkflow(tmp_path: Path) -> None:
    """tests/conformance/sweep.py on one bundle (the DMN 1.2 fix's files): deployed, started,
    run to the end, viewed, no 5xx; SpiffWorkflow alone is asked too."""
    from conformance.sweep import Service, spiff_alone, sweep_one

    bundle = [
        ("business_rule_task.bpmn", (DATA / "corpus" / "business_rule_task.bpmn").read_bytes()),
        ("decision_dmn12.dmn", (HELD / "decision_dmn12.dmn").read_bytes()),
    ]
    svc, viewer = Service(tmp_path / "sweep.db"), Service(tmp_path / "view.db")
    try:
        rec = sweep_one(svc, "test", "business_rule_task.bpmn", bundle, 20, viewer)
    finally:
        svc.client.__exit__(None, None, None)
        viewer.client.__exit__(None, None, None)
    assert (rec.deploy_status, rec.view_status, rec.server_errors) == (201, 201, [])
    assert rec.deployable and rec.ran_to_end
    path = "tests/SpiffWorkflow/spiff/data/business_rule_task.bpmn"  # its folder: SpiffBpmnParser
    assert spiff_alone(path, bundle, 20) == "completed"
