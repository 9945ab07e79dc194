"""Uploads a designer can act on (issue 7, item 8): valid BPMN that powerflow cannot run yet is
stored for viewing with its reasons and cannot be started; every problem names the element and
the line in a designer's words, without the parser's internals."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Api

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D" targetNamespace="http://example.org">
"""


def _process(key: str, middle: str, extra: str = "", before: str = "") -> bytes:
    """start -> (middle element with id 'x') -> end; ``before`` goes before the process."""
    return (
        HEAD
        + before
        + f"""  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
{middle}
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="x"/>
    <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"/>
{extra}
  </bpmn:process>
</bpmn:definitions>
"""
    ).encode()


FLOWS = "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>"
NOT_RUNNABLE_YET = [
    pytest.param(
        _process(
            "pay_out",
            f'    <bpmn:serviceTask id="x" name="Transfer money" '
            f'camunda:class="org.example.Transfer">{FLOWS}</bpmn:serviceTask>',
        ),
        "Transfer money",
        "service task",
        id="service-task-with-java-code",
    ),
    # a business rule task naming a decision runs when the decision is deployed, and is
    # refused when it is not (tests/test_decisions.py)
    pytest.param(
        _process(
            "rate_bare",
            f'    <bpmn:businessRuleTask id="x" name="Rate the risk">{FLOWS}'
            "</bpmn:businessRuleTask>",
        ),
        "Rate the risk",
        "decision table (DMN)",
        id="business-rule-task-without-decision",
    ),
    pytest.param(
        _process(
            "registry",
            '    <bpmn:userTask id="x" name="Check the registry" '
            f'camunda:candidateGroups="registrar">{FLOWS}'
            '<bpmn:dataOutputAssociation id="out"><bpmn:targetRef>reg</bpmn:targetRef>'
            "</bpmn:dataOutputAssociation></bpmn:userTask>",
            extra='    <bpmn:dataStoreReference id="reg" name="Land registry" '
            'dataStoreRef="store"/>',
            before='  <bpmn:dataStore id="store" name="Land registry"/>\n',
        ),
        "Land registry",
        "data store",
        id="data-store",
    ),
]


def _line_of(xml: bytes, element_id: str) -> int:
    return next(
        n
        for n, line in enumerate(xml.decode().splitlines(), start=1)
        if f'id="{element_id}"' in line
    )


def _upload(api: Api, name: str, xml: bytes) -> Any:
    designer = api.user("designer")
    return api.client.post("/v1/definitions", headers=designer, files={"file": (name, xml)})


@pytest.mark.parametrize(("xml", "label", "what"), NOT_RUNNABLE_YET)
def test_what_powerflow_cannot_run_yet_is_stored_for_viewing(
    api: Api, xml: bytes, label: str, what: str
) -> None:
    response = _upload(api, "model.bpmn", xml)
    assert response.status_code == 201, response.text
    body = response.json()
    assert "viewing" in body["message"]
    definition = body["definitions"][0]
    assert definition["executable"] is False
    reason = definition["not_executable_reason"]
    element = "reg" if what == "data store" else "x"
    line = _line_of(xml, element)
    assert f"'{label}' (line {line})" in reason and what.lower() in reason.lower()
    assert [(w["element_id"], w["line"]) for w in definition["warnings"]] == [(element, line)]
    shown = api.client.get(f"/v1/definitions/{definition['key']}", headers=api.admin).json()
    assert shown[0]["not_executable_reason"] == reason  # every version, newest first
    assert api.client.get(f"/v1/definitions/{definition['key']}/xml", headers=api.admin)
    start = api.client.post(
        "/v1/instances", headers=api.user("clerk"), json={"definition_key": definition["key"]}
    )
    assert start.status_code == 409
    assert label in start.json()["detail"] and "cannot be started" in start.json()["detail"]


def test_a_runnable_process_beside_one_that_is_not_is_deployed(api: Api) -> None:
    xml = _process(
        "with_service",
        f'    <bpmn:serviceTask id="x" name="Notify" camunda:delegateExpression="${{notify}}">'
        f"{FLOWS}</bpmn:serviceTask>",
    ).replace(
        b"</bpmn:definitions>",
        b"""  <bpmn:process id="plain" isExecutable="true">
    <bpmn:startEvent id="p_start"><bpmn:outgoing>p1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="p_end"><bpmn:incoming>p1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="p1" sourceRef="p_start" targetRef="p_end"/>
  </bpmn:process>
</bpmn:definitions>""",
    )
    response = _upload(api, "two.bpmn", xml)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"].startswith("Deployed plain v1.") and "with_service v1" in body["message"]
    executable = {d["key"]: d["executable"] for d in body["definitions"]}
    assert executable == {"with_service": False, "plain": True}


ASSOCIATION = _process(
    "assoc",
    f'    <bpmn:userTask id="x" name="Review">{FLOWS}'
    '<bpmn:ioSpecification id="rio"><bpmn:dataInput id="review_in"/>'
    '<bpmn:inputSet id="ris"><bpmn:dataInputRefs>review_in</bpmn:dataInputRefs></bpmn:inputSet>'
    '<bpmn:outputSet id="ros"/></bpmn:ioSpecification>'
    '<bpmn:dataInputAssociation id="da1"><bpmn:sourceRef>application</bpmn:sourceRef>'
    "<bpmn:targetRef>review_in</bpmn:targetRef></bpmn:dataInputAssociation></bpmn:userTask>",
).replace(
    b'isExecutable="true">',
    b'isExecutable="true">\n    <bpmn:ioSpecification id="io"><bpmn:dataInput id="application"/>'
    b'<bpmn:inputSet id="is"><bpmn:dataInputRefs>application</bpmn:dataInputRefs>'
    b'</bpmn:inputSet><bpmn:outputSet id="os"/></bpmn:ioSpecification>',
)
SCHEMA_ERROR = _process(
    "schema",
    f'    <bpmn:userTask id="x" name="Review">{FLOWS}'
    '<bpmn:dataInputAssociation id="da1"><bpmn:sourceRef>application</bpmn:sourceRef>'
    "</bpmn:dataInputAssociation></bpmn:userTask>",
)
MISSING_CALLED = _process(
    "caller",
    f'    <bpmn:callActivity id="x" name="Fetch file" calledElement="elsewhere">{FLOWS}'
    "</bpmn:callActivity>",
)
PROBLEMS = [
    pytest.param(ASSOCIATION, "x", "data object", id="data-association"),
    pytest.param(SCHEMA_ERROR, "da1", "bpmn:targetRef", id="schema"),
    pytest.param(MISSING_CALLED, "x", "not in this file", id="call-activity-target-missing"),
]


@pytest.mark.parametrize(("xml", "element", "words"), PROBLEMS)
def test_every_problem_names_the_element_and_line_in_plain_words(
    sqlite_api: Api, xml: bytes, element: str, words: str
) -> None:
    response = _upload(sqlite_api, "model.bpmn", xml)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert problems
    for problem in problems:
        assert problem["element_id"] and isinstance(problem["line"], int), problem
        assert "<Element" not in problem["message"] and " at 0x" not in problem["message"]
        assert "{http" not in problem["message"]
    first = problems[0]
    assert first["element_id"] == element
    assert first["line"] in (_line_of(xml, element), _line_of(xml, element) + 1)
    assert words in first["message"]
