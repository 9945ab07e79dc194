"""The one data name powerflow writes into a process's data: an objection to its notice.

An objection raised against a public notice (``pf:notice objectionMessage="..."``) reaches the
case as that BPMN message, whose payload is ``{OBJECTION_PAYLOAD: {"notice_id": ...,
"objection_id": ..., "text": ...}}``; a catch without ``messageVariable`` merges it into its
task's data (engine/message_payloads.py), replacing whatever held that name. So a process
whose notice takes objections may not declare the name itself: a form field, an accepted data
name, a variable a script assigns, an external task's output or a connector's result of that
name is an upload error (``objection_name_problems``). Reading it (a gateway condition, a
script, a rule) is what it is for.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask

from powerflow.engine.extensions import ProcessInfo
from powerflow.engine.types import Problem

OBJECTION_PAYLOAD = "notice_objection"
"""The data name an objection to a notice arrives under (a dict: notice_id, objection_id,
text); reserved in a process whose pf:notice names an objectionMessage."""


def _assigned(source: str) -> bool:
    """Whether the script binds (assigns, deletes, loops over, imports as, defines) the name."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False  # reported by the script lint
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == OBJECTION_PAYLOAD:
            if isinstance(node.ctx, ast.Store | ast.Del):
                return True
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == OBJECTION_PAYLOAD:
                return True
        elif isinstance(node, ast.alias):
            if (node.asname or node.name) == OBJECTION_PAYLOAD:
                return True
        elif isinstance(node, ast.Global | ast.Nonlocal) and OBJECTION_PAYLOAD in node.names:
            return True
    return False


def _scripts(spec: Any) -> Iterator[tuple[str, str]]:
    for ts in spec.task_specs.values():
        bpmn_id = getattr(ts, "bpmn_id", None) or ts.name
        if isinstance(ts, ScriptTask) and ts.script:
            yield bpmn_id, ts.script
        for attr in ("prescript", "postscript"):
            source = getattr(ts, attr, None)
            if source:
                yield bpmn_id, source


def _outputs(spec: Any) -> Iterator[tuple[str, str]]:
    for ts in spec.task_specs.values():
        bpmn_id = getattr(ts, "bpmn_id", None) or ts.name
        for mapping in getattr(ts, "declared_outputs", None) or ():
            yield bpmn_id, str(mapping.name)
        result = getattr(ts, "result_variable", None)
        if result:
            yield bpmn_id, str(result)


def _names(accepts: Any) -> list[str]:
    return list(accepts) if isinstance(accepts, list) else []


def objection_name_problems(
    process: etree._Element, info: ProcessInfo, specs: Iterable[Any]
) -> list[Problem]:
    """Upload errors for a process whose notice takes objections and which declares the name
    objections arrive under; none for a process whose notices take none."""
    if not any(
        (e.metadata.get("notice") or {}).get("objection_message") for e in info.elements.values()
    ):
        return []
    lines = {n.get("id"): n.sourceline for n in process.iter() if isinstance(n.tag, str)}
    found: list[tuple[str | None, str]] = []
    if any(f.id == OBJECTION_PAYLOAD for f in info.start.form):
        found.append((None, "a start form field"))
    if OBJECTION_PAYLOAD in _names(info.start.accepts_data) + _names(info.accepts_data):
        found.append((None, "a name the process's pf:acceptsData accepts"))
    for element in info.elements.values():
        if any(f.id == OBJECTION_PAYLOAD for f in element.form):
            found.append((element.element_id, "a form field"))
        if OBJECTION_PAYLOAD in _names(element.accepts_data):
            found.append((element.element_id, "a name its pf:acceptsData accepts"))
    for spec in specs:
        found += [
            (eid, "a variable its script assigns") for eid, s in _scripts(spec) if _assigned(s)
        ]
        found += [
            (eid, "an output it writes")
            for eid, name in _outputs(spec)
            if name == OBJECTION_PAYLOAD
        ]
    return [
        Problem(
            f"'{OBJECTION_PAYLOAD}' is reserved in this process: an objection to its public "
            f"notice arrives under that name (pf:notice objectionMessage), so it cannot be "
            f"{what}; rename it.",
            line=lines.get(element_id) if element_id else process.sourceline,
            element_id=element_id,
            process_id=info.process_id,
        )
        for element_id, what in dict.fromkeys(found)
    ]
