"""Drivers of the held-back SpiffWorkflow models under heldback/spiffworkflow/spiff/ (see
heldback/README.md): each file driven over HTTP with its upstream test's inputs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from conformance.harness import Run
from conformance.heldback_registry import SPIFF, held
from connector_stubs import stub_connectors

SPIFF = SPIFF + "spiff/data/"


# -- correlation ----------------------------------------------------------------------------


@held(SPIFF + "correlation_two_conversations.bpmn")
def correlation_two_conversations(run: Run) -> None:
    """DualConversationTest.testTwoCorrelatonKeys: message_send_process throws 'Message Send
    One' then 'Message Send Two' (nobody receives them here: both kept), the first correlated
    by message_correlation_key_one's properties only, the second by key two's only. Beyond
    the upstream test, the instance then waits for 'Message Response Two' (receive task):
    an answer with other topics is not for it, one with its conversation-two topics is, under
    payload_var_two. (The next catch's retrieval expressions read ``payload_var_one.topica``,
    attribute access on a dict, which SpiffWorkflow 3.2 cannot evaluate either: not driven.)"""
    definitions = run.deploy(SPIFF + "correlation_two_conversations.bpmn")
    assert [d["key"] for d in definitions if d["executable"]] == ["message_send_process"]
    sender = run.start("message_send_process")
    assert run.status == "running", run.incident
    assert run.instance["waiting_messages"] == ["Message Response Two"]
    kept = [p["name"] for kind, _, p in run.event_rows() if kind == "message.kept"]
    assert kept == ["Message Send One", "Message Send Two"]  # thrown in this order
    (one,) = run.messages("Message Send One")
    (two,) = run.messages("Message Send Two")
    for sent in (one, two):
        assert sent["source_instance_id"] == sender["id"] and sent["status"] == "kept"
    data = run.data
    assert one["payload"] == {
        "topica_one": data["topic_one_a"],
        "topicb_one": data["topic_one_b"],
        "initial_var_one": 3,
    }
    assert one["correlation"] == {
        "mcp_topica_one": data["topic_one_a"],
        "mcp_topicb_one": data["topic_one_b"],
    }
    assert two["payload"] == {
        "topica_two": data["topic_two_a"],
        "topicb_two": data["topic_two_b"],
        "initial_var_two": 5,
    }
    assert two["correlation"] == {
        "mcp_topica_two": data["topic_two_a"],
        "mcp_topicb_two": data["topic_two_b"],
    }

    stranger = run.send("Message Response Two", payload={"topica_two": "x", "topicb_two": "y"})
    assert stranger["status"] == "kept" and stranger["delivered_to"] == []
    answer = {"topica_two": data["topic_two_a"], "topicb_two": data["topic_two_b"]}
    sent = run.send("Message Response Two", payload=answer)
    assert sent["status"] == "delivered" and sent["delivered_to"] == [sender["id"]]
    assert run.read()["status"] == "running"
    assert run.instance["waiting_messages"] == ["Message Response One"]
    assert run.data["payload_var_two"] == answer


@held(SPIFF + "default_correlation_key.bpmn")
def default_correlation_key(run: Run) -> None:
    """DefaultCorrelationKeyTest: the receive task's processVariableCorrelation (no
    correlationKey element) makes the instance expect uid=1; a B with uid 2 is not for it,
    B with uid 1 completes it, its payload under a_var."""
    run.start(run.key(SPIFF + "default_correlation_key.bpmn"))
    assert run.status == "running"
    assert run.instance["waiting_messages"] == ["B"]
    other = run.send("B", payload={"uid": 2})
    assert other["status"] == "kept" and other["delivered_to"] == []
    assert run.read()["status"] == "running"
    sent = run.send("B", payload={"uid": 1})
    assert sent["status"] == "delivered" and sent["delivered_to"] == [run.instance["id"]]
    assert run.read()["status"] == "completed"
    assert run.data == {"a_var": {"uid": 1}}


@held(SPIFF + "receive_correlations.bpmn")
def receive_correlations(run: Run) -> None:
    """ReceiveCorrelationTest: any_task completed with value_1='a', value_2='b'; the catch's
    processVariableCorrelations set the instance's correlation (key 'test': prop_1 'a',
    prop_2 'b', not readable over HTTP). The message has no retrieval expressions, so, as in
    SpiffWorkflow, its catch takes the message with the upstream payload, which lands under
    'response' (messageVariable) and completes the instance."""
    run.start(run.key(SPIFF + "receive_correlations.bpmn"))
    assert run.ready() == ["any_task"]
    run.complete("any_task", value_1="a", value_2="b")
    assert run.status == "running", run.incident
    assert run.instance["waiting_messages"] == ["message"]
    payload = {"msg_value_1": "a", "msg_value_2": "b"}
    sent = run.send("message", payload=payload)
    assert sent["status"] == "delivered" and sent["delivered_to"] == [run.instance["id"]]
    assert run.read()["status"] == "completed"
    assert run.data == {"value_1": "a", "value_2": "b", "response": payload}


# -- data objects, pre- and post-scripts ----------------------------------------------------


@held(SPIFF + "data_object.bpmn")
def data_object(run: Run) -> None:
    """DataObjectTest reads obj_1's spiffworkflow:category from the parsed spec (a Python-API
    detail with no HTTP view). The closest observable behaviour: the file deploys and runs
    as bpmn/data_object.bpmn does in DataObjectReferenceTest: obj_1 becomes 'hello'
    (written by generate_data's output association); a task without an output reference
    cannot change it; read_data and the subprocess's placeholder read it; placeholder writes
    obj_2 (this file's only change of the model besides the category), so it is completed
    with obj_2 (SpiffWorkflow fails a data output the task data lacks)."""
    run.start(run.key(SPIFF + "data_object.bpmn"))
    assert run.ready() == ["generate_data"]
    run.complete("generate_data", obj_1="hello")
    assert run.ready() == ["task_1"]
    run.complete("task_1", obj_1="hello again")
    assert run.ready() == ["read_data"]
    assert run.task("read_data")["data"]["obj_1"] == "hello"
    run.complete("read_data", obj_1="hello again")
    assert run.ready() == ["placeholder"]
    assert run.task("placeholder")["data"]["obj_1"] == "hello"
    run.complete("placeholder", obj_1="hello again", obj_2="written")
    assert run.status == "completed", run.incident
    # the workflow's data: obj_1 unchanged, obj_2 written by placeholder's output association
    assert run.data == {"data_objects": {"obj_1": "hello", "obj_2": "written"}}


@held(SPIFF + "prescript_postscript_data_object.bpmn")
def prescript_postscript_data_object(run: Run) -> None:
    """PrescriptPostsciptTest.testDataObject: data object a = 1 (upstream sets
    ``workflow.data_objects['a']``; over HTTP the only way in is a start variable of that name)
    and b = 2; the task reads a through its input association; the pre-script computes x, y,
    z, the post-script c and deletes x and y; a is removed from the task again: the task ends
    with {b: 2, c: 12, z: 6}, and the workflow's data object a is still 1."""
    run.start(run.key(SPIFF + "prescript_postscript_data_object.bpmn"), a=1, b=2)
    assert run.status == "running", run.incident
    assert run.ready() == ["Activity_1iqs4li"]
    run.complete("Activity_1iqs4li")
    assert run.status == "completed", run.incident
    assert run.data == {"data_objects": {"a": 1}, "b": 2, "c": 12, "z": 6}


@held(SPIFF + "prescript_postscript_parent.bpmn")
def prescript_postscript_parent(run: Run) -> None:
    """PrescriptPostsciptTest.testCallActivity: parent deployed with
    prescript_postscript_call_activity.bpmn (one bundle). Started with old='hello', the call
    activity's pre-script sets in_data, the called process (ioSpecification in_data ->
    out_data) upper-cases it, the post-script copies out_data into new: old is unchanged,
    new is 'HELLO', and in_data/out_data remain (upstream's comment). The called file is
    a companion: deployed with this one, never started on its own upstream."""
    deployed = run.deploy_bundle(
        SPIFF + "prescript_postscript_parent.bpmn",
        SPIFF + "prescript_postscript_call_activity.bpmn",
    )
    assert {d["key"] for d in deployed} == {"parent", "update_data"}
    run.start("parent", old="hello")
    assert run.status == "completed", run.incident
    assert run.data == {"old": "hello", "in_data": "hello", "out_data": "HELLO", "new": "HELLO"}


# -- event payloads -------------------------------------------------------------------------


@held(SPIFF + "signal_event_payload.bpmn")
def signal_event_payload(run: Run) -> None:
    """EventPayloadTest.testSignalEvent: set_data completed with v1, v2, v3; the throw sends
    the signal's payloadExpression {'r1': v1, 'r2': v2}, the parallel catch stores it under
    'result' (variableName); the instance completes with both."""
    run.start(run.key(SPIFF + "signal_event_payload.bpmn"))
    assert run.ready() == ["set_data"]
    run.complete("set_data", v1=1, v2=2, v3=3)
    assert run.status == "completed", run.incident
    assert run.data == {"v1": 1, "v2": 2, "v3": 3, "result": {"r1": 1, "r2": 2}}


@held(SPIFF + "error_event_payload.bpmn")
def error_event_payload(run: Run) -> None:
    """EventPayloadTest.testErrorEvent: set_data (in the subprocess) completed with
    error=True, payload='ERROR!'; the error end event's payloadExpression reaches the
    boundary event under 'result'; the subprocess's own data is dropped."""
    run.start(run.key(SPIFF + "error_event_payload.bpmn"))
    assert run.ready() == ["set_data"]
    run.complete("set_data", error=True, payload="ERROR!")
    assert run.status == "completed", run.incident
    assert run.data == {"result": "ERROR!"}


@held(SPIFF + "escalation_event_payload.bpmn")
def escalation_event_payload(run: Run) -> None:
    """EventPayloadTest.testEscalationEvent: as the error test, with an escalation."""
    run.start(run.key(SPIFF + "escalation_event_payload.bpmn"))
    assert run.ready() == ["set_data"]
    run.complete("set_data", escalation=True, payload="ERROR!")
    assert run.status == "completed", run.incident
    assert run.data == {"result": "ERROR!"}


# -- multi-instance -------------------------------------------------------------------------


def _double_each_input_item(run: Run, seen: list[Any]) -> None:
    while run.ready():
        assert run.ready() == ["any_task"] * len(run.ready())
        item = run.task("any_task")["data"]["input_item"]
        seen.append(item)
        run.complete("any_task", output_item=item * 2)


@held(SPIFF + "spiff_multiinstance.bpmn")
def spiff_multiinstance(run: Run) -> None:
    """MultiInstanceTaskTest.testMultiInstanceTask: the pre-script on the multi-instance task
    adds 1 to every input item before the instances are made, the post-script subtracts 1
    from every output after they finish: [1, 2, 3] -> inputs [2, 3, 4], outputs [3, 5, 7]."""
    run.start(run.key(SPIFF + "spiff_multiinstance.bpmn"), input_data=[1, 2, 3])
    assert run.ready() == ["any_task"] * 3
    seen: list[Any] = []
    _double_each_input_item(run, seen)
    assert seen == [2, 3, 4]
    assert run.status == "completed", run.incident
    assert run.data == {"input_data": [2, 3, 4], "output_data": [3, 5, 7]}


@held(SPIFF + "script_on_mi.bpmn")
def script_on_mi(run: Run) -> None:
    """MultiInstanceTaskTest.testMultiInstanceTaskWithInstanceScripts (scriptsOnInstances):
    each instance's pre-script adds 1 to its input item, its post-script subtracts 1 from
    its output item: input_data stays [1, 2, 3], output_data is [3, 5, 7]."""
    run.start(run.key(SPIFF + "script_on_mi.bpmn"), input_data=[1, 2, 3])
    assert run.ready() == ["any_task"] * 3
    seen: list[Any] = []
    _double_each_input_item(run, seen)
    assert seen == [2, 3, 4]
    assert run.status == "completed", run.incident
    assert run.data == {"input_data": [1, 2, 3], "output_data": [3, 5, 7]}


# -- service tasks --------------------------------------------------------------------------

PAY_RATE = {"amount": "65000.00", "currency": "USD", "id": "4", "payRate": "65000.00 USD"}


@held(SPIFF + "service_task_variable.bpmn")
def service_task_variable(run: Run) -> None:
    """ServiceTaskVariableTest: with stub connectors installed, bamboohr/GetPayRate gets the
    parameters evaluated against the task data (employee_id from the variable employeeID a
    script set: '109') and its result is stored under spiff__Activity_0xhr131_result."""
    with tempfile.TemporaryDirectory() as root, stub_connectors(Path(root)) as stubs:
        (definition,) = run.deploy(SPIFF + "service_task_variable.bpmn")
        assert "Activity_0xhr131" not in {w["element_id"] for w in definition["warnings"]}
        run.start(definition["key"])
        calls: list[tuple[str, dict[str, Any]]] = list(stubs.CALLS)
    assert run.status == "completed", run.incident
    assert calls == [
        (
            "bamboohr/GetPayRate",
            {"api_key": "secret:BAMBOOHR_API_KEY", "employee_id": "109", "subdomain": "statusdemo"},
        )
    ]
    assert run.data == {"employeeID": "109", "spiff__Activity_0xhr131_result": PAY_RATE}


@held(SPIFF + "service_task_retry_without_backoff.bpmn")
def service_task_retry_without_backoff(run: Run) -> None:
    """ServiceTaskTest.testServiceTaskRetrySerializationOmitsBackoffWhenMissingInXml checks
    how SpiffWorkflow serializes retries="3" without a backoff (a Python-API detail;
    powerflow does not use retries, docs/bpmn-support.md). The closest observable behaviour:
    the file deploys without a warning on the task and, with the stub connector installed,
    weather/CurrentTemp is called once with zipcode 22980 and its result is stored under
    the resultVariable."""
    with tempfile.TemporaryDirectory() as root, stub_connectors(Path(root)) as stubs:
        (definition,) = run.deploy(SPIFF + "service_task_retry_without_backoff.bpmn")
        assert "Activity_retry_only" not in {w["element_id"] for w in definition["warnings"]}
        run.start(definition["key"])
        calls: list[tuple[str, dict[str, Any]]] = list(stubs.CALLS)
    assert run.status == "completed", run.incident
    assert calls == [("weather/CurrentTemp", {"zipcode": 22980})]
    assert run.data == {"retryOnlyWeatherResult": {"temp": "72F"}}


# -- extensions parsed only -----------------------------------------------------------------


@held(SPIFF + "spiff_properties.bpmn")
def spiff_properties(run: Run) -> None:
    """SpiffPropertiesTest reads the user task's spiffworkflow:properties from its parsed
    spec (a Python-API detail; the HTTP API does not show them). The closest observable
    behaviour: the file deploys, the one user task is ready after the start (as upstream
    finds it) and completing it completes the instance."""
    run.start(run.key(SPIFF + "spiff_properties.bpmn"))
    assert run.ready() == ["Activity_04b30i8"]
    assert run.instance["tasks"][0]["name"] == "Complete Form"
    run.complete("Activity_04b30i8")
    assert run.status == "completed"


@held(SPIFF + "script_task_with_unit_tests.bpmn")
def script_task_with_unit_tests(run: Run) -> None:
    """ScriptUnitTestExtensionsTest reads the script task's spiffworkflow:unitTests from its
    parsed spec (a Python-API detail). The closest observable behaviour: upstream runs the
    workflow to the end with do_engine_steps; 'Set var' sets hey = False and the script
    (``if 'hey' in locals()``) sets it to True, as its first unit test expects."""
    run.start(run.key(SPIFF + "script_task_with_unit_tests.bpmn"))
    assert run.status == "completed", run.incident
    assert run.data == {"hey": True}
