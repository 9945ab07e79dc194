"""Upload checks for what other engines' modelers write and powerflow does not run.

Camunda attributes powerflow ignores (``camunda:assignee``, ``camunda:initiator``, ...) and
Zeebe extensions get a warning that says what powerflow does instead. JUEL expressions
(``${...}``, ``#{...}``), which Camunda evaluates, are not Python: where a process would run
them (a condition, a script, a timer, a multi-instance expression) they are a problem that
shows the Python to write; in a process stored for viewing only they are a warning.
"""

from __future__ import annotations

import re

from lxml import etree

from powerflow.engine.camunda_loops import honoured
from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
_ZEEBE_IGNORED = ("taskDefinition", "calledElement", "formDefinition")
_JUEL = re.compile(r"[$#]\{(.*?)\}", re.DOTALL)
_WHOLE_JUEL = re.compile(r"^[$#]\{.*\}$", re.DOTALL)  # Python never is one whole ${...}
_JUEL_WORDS = [
    (re.compile(r"&&"), " and "),
    (re.compile(r"\|\|"), " or "),
    (re.compile(r"!(?!=)"), " not "),
    (re.compile(r"\beq\b"), "=="),
    (re.compile(r"\bne\b"), "!="),
    (re.compile(r"\bempty\s+(\w+)"), r"not \1"),
    (re.compile(r"\bnull\b"), "None"),
    (re.compile(r"\btrue\b"), "True"),
    (re.compile(r"\bfalse\b"), "False"),
]
# What powerflow does instead of each ignored Camunda attribute.
_IGNORED = {
    "assignee": "tasks are offered by role (lane, camunda:candidateGroups or "
    "pf:responsibleRole) and a person claims one",
    "candidateUsers": "tasks are offered by role (lane, camunda:candidateGroups or "
    "pf:responsibleRole), not to named people",
    "initiator": "the person who starts an instance is recorded as its started_by, "
    "not put into a variable",
    "dueDate": "deadlines come from pf:timeLimit (docs/extensions.md)",
    "followUpDate": "deadlines and reminders come from pf:timeLimit and pf:alertProfile",
    "priority": "tasks have no priority; deadlines and alerts order the work",
    "formKey": "forms are declared with camunda:formData (embedded or external forms "
    "are not served)",
    "collection": "powerflow iterates a variable named by camunda:collection (items or "
    "${items}) or by bpmn:loopDataInputRef, not an expression; and not beside the standard "
    "elements",
    "elementVariable": "powerflow names each item by a variable name in "
    "camunda:elementVariable (with camunda:collection or a loop cardinality) or by "
    "bpmn:inputDataItem, and not beside the standard elements",
    "asyncBefore": "every step is saved before the next request anyway",
    "asyncAfter": "every step is saved before the next request anyway",
}
# Where an expression is run, by the tag that holds it.
_EXPRESSION_TAGS = {
    "conditionExpression": "condition",
    "script": "script",
    "timeDuration": "timer",
    "timeDate": "timer",
    "timeCycle": "timer",
    "loopCardinality": "loop cardinality",
    "completionCondition": "completion condition",
    "condition": "condition",
}


def as_python(juel: str) -> str:
    """A best guess at the Python a JUEL expression means (``${a && !b}`` -> ``a and not b``)."""
    inner = _JUEL.sub(lambda m: m.group(1), juel).strip()
    for pattern, python in _JUEL_WORDS:
        inner = pattern.sub(python, inner)
    return re.sub(r"\s+", " ", inner).strip()


def _owner(node: etree._Element) -> etree._Element:
    """The nearest ancestor (or self) with an id: the element a designer clicks on."""
    current: etree._Element | None = node
    while current is not None and not current.get("id"):
        current = current.getparent()
    return current if current is not None else node


def _label(node: etree._Element) -> str:
    tag = etree.QName(node).localname
    name = (node.get("name") or node.get("id") or "").replace("\n", " ").strip()
    return f"{tag} '{name}'"


def foreign_problems(process: etree._Element, *, runs: bool) -> list[Problem]:
    """Problems of ``process`` that come from another engine's dialect.

    ``runs``: the process would be run, so a JUEL expression is an error; otherwise (stored for
    viewing) it is a warning. Ignored attributes are always warnings.
    """
    pid = process.get("id")
    found: list[Problem] = []
    for node in process.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        namespace = etree.QName(node).namespace
        for attr, value in node.attrib.items():
            qname = etree.QName(attr)
            if qname.namespace == CAMUNDA_NS and qname.localname in _IGNORED:
                loop = local == "multiInstanceLoopCharacteristics"
                if loop and honoured(node, qname.localname):
                    continue
                owner = _owner(node)  # a multi-instance's loop characteristics have no id
                where = _label(owner) + (" (its multi-instance)" if owner is not node else "")
                # a collection that is not read leaves the multi-instance with nothing to run
                fatal = runs and loop and qname.localname == "collection"
                found.append(
                    Problem(
                        f'camunda:{qname.localname}="{value}" on the {where} '
                        + ("cannot run" if fatal else "is ignored")
                        + f": {_IGNORED[qname.localname]}.",
                        line=node.sourceline,
                        element_id=owner.get("id"),
                        process_id=pid,
                        severity="error" if fatal else "warning",
                    )
                )
        owner_local = etree.QName(_owner(node)).localname if namespace == ZEEBE_NS else ""
        if local == "taskDefinition" and owner_local == "serviceTask":
            pass  # its type is the external task's topic (engine/service_tasks.py)
        elif namespace == ZEEBE_NS and local in (
            "taskDefinition",
            "calledElement",
            "formDefinition",
        ):
            owner = _owner(node)
            found.append(
                Problem(
                    f"The Zeebe extension zeebe:{local} on the {_label(owner)} is ignored: "
                    "powerflow does not run Camunda 8 (Zeebe) job types other than a service "
                    "task's, forms or call targets.",
                    line=node.sourceline,
                    element_id=owner.get("id"),
                    process_id=pid,
                    severity="warning",
                )
            )
        if namespace == BPMN_NS and local in _EXPRESSION_TAGS:
            text = (node.text or "").strip()
            if _WHOLE_JUEL.match(text):
                owner = _owner(node.getparent() if node.getparent() is not None else node)
                what = _EXPRESSION_TAGS[local]
                verb = "cannot run" if runs else "would not run"
                found.append(
                    Problem(
                        f"The {what} of the {_label(owner)} is a JUEL expression ({text}), which "
                        f"powerflow {verb}: expressions are Python. Write it as "
                        f"{as_python(text)!r} instead.",
                        line=node.sourceline,
                        element_id=owner.get("id"),
                        process_id=pid,
                        severity="error" if runs else "warning",
                    )
                )
    return found
