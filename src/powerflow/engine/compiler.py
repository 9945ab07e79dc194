"""Turn uploaded BPMN bytes into validated, runnable process specs, or into precise problems.

Order of checks: hardened XML parse, BPMN 2.0 XSD, powerflow extension metadata, SpiffWorkflow's
own parser, then a lint for what the library accepts silently but runs wrongly (unsafe or broken
scripts, invalid ISO 8601 timer values, link events, unreachable elements). Bare ISO timer values
are quoted and Camunda's multi-instance attributes written as standard elements for SpiffWorkflow
by ``for_spiff`` (here and when a stored file is parsed).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    MultiInstanceTask,
    StandardLoopTask,
)
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from powerflow.engine import camunda_loops, timer_expr
from powerflow.engine.calls import (
    DMN_NAMESPACES,
    decision_ref,
    decision_tasks,
    external_calls,
    unnamed_calls,
    walk_subprocess_specs,
)
from powerflow.engine.extensions import (
    NS,
    AcceptsData,
    ElementInfo,
    ProcessInfo,
    StartInfo,
    misbound_namespace,
    read_process,
    unassigned_human_tasks,
)
from powerflow.engine.foreign import foreign_problems
from powerflow.engine.patches import prepare_spec
from powerflow.engine.reserved import objection_name_problems
from powerflow.engine.scripting import ScriptRejected, compile_script
from powerflow.engine.service_tasks import PowerflowParser, not_runnable, upload_problems
from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS, XmlRejected, parse_untrusted

_FLOW_NODE_SKIP = {
    "sequenceFlow",
    "laneSet",
    "lane",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "textAnnotation",
    "association",
    "extensionElements",
    "documentation",
    "ioSpecification",
    "property",
    "group",
    "category",
}
# Valid BPMN that powerflow cannot run yet: a process using one is stored for viewing, with
# the reasons (element, line), and cannot be started.
_NOT_RUNNABLE_YET = {
    "businessRuleTask": (  # only one that names no decision (see _unready)
        "business rule task",
        "names no decision table (DMN) to evaluate; give it the id of a deployed decision "
        "(spiffworkflow:calledDecisionId or camunda:decisionRef)",
    ),
    "dataStoreReference": (
        "data store reference",
        "reads or writes a data store, which powerflow cannot run yet; "
        "keep the data in process variables (form fields) instead",
    ),
}
_NAMESPACED = re.compile(r"\{([^}]*)\}(\w+)")
_INTERNAL_REPR = re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>")
_UNQUOTED_TIMER = re.compile(r"^\s*(P\d|PT\d|R\d*/|\d{4}-\d{2}-\d{2})")


@dataclass
class CompiledProcess:
    """One bpmn:process of an upload, ready to store (and, if executable, to run)."""

    process_id: str
    name: str
    executable: bool
    not_executable_reason: str | None
    metadata: dict[str, Any]
    elements: dict[str, ElementInfo]
    flows: dict[str, dict[str, Any]]
    warnings: list[Problem] = field(default_factory=list)
    accepts_data: AcceptsData = None
    start: StartInfo = field(default_factory=StartInfo)
    rules: list[dict[str, Any]] = field(default_factory=list)
    called: dict[str, str] = field(default_factory=dict)  # element id -> its called process
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # calls to other files
    decisions: dict[str, str] = field(default_factory=dict)  # business rule task -> decision
    decision: dict[str, Any] | None = None  # a DMN decision table's summary (engine/decisions)
    timer_starts: list[dict[str, str]] = field(default_factory=list)  # scheduled at deploy

    def catalog(self) -> dict[str, Any]:
        """The JSON document stored with the definition: metadata, elements, flows, and what
        data the start event and the process accept (read by services/forms.py)."""
        return {
            "process": self.metadata,
            "elements": {k: v.as_dict() for k, v in self.elements.items()},
            "flows": self.flows,
            "accepts_data": self.accepts_data,
            "start": self.start.as_dict(),
            "rules": self.rules,
            "called": self.called,
            "calls": self.calls,
            "decisions": self.decisions,
            **({"decision": self.decision} if self.decision is not None else {}),
            "timer_starts": self.timer_starts,
        }


@dataclass
class CompileResult:
    """The outcome of compiling one upload."""

    content_hash: str
    processes: list[CompiledProcess]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when nothing blocks deployment (warnings do not)."""
        return not any(p.severity == "error" for p in self.problems)


def content_hash(data: bytes) -> str:
    """The identity of an upload: sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def _line_of(tree: etree._ElementTree, element_id: str | None) -> int | None:
    if not element_id:
        return None
    found = tree.getroot().xpath("//*[@id=$eid]", eid=element_id)
    return found[0].sourceline if found else None


def _spiff_problem(tree: etree._ElementTree, exc: Exception, process_id: str | None) -> Problem:
    element_id = getattr(exc, "id", None) or None
    message = str(exc.args[0]) if exc.args else str(exc)
    message = message.strip().removesuffix(". ").rstrip()
    if message.startswith("Multiple outgoing flows are not supported for tasks of type"):
        message = (
            "This task has more than one outgoing sequence flow; add a gateway to split the flow."
        )
    if message.startswith("When looking for a task spec, we found two items"):
        ref = message.rsplit("(", 1)[-1].rstrip(")")
        message = f"A sequence flow points to '{ref}', which is not an element of this process."
    missing = re.match(r"The process '([^']+)' was not found", message)
    if missing and not element_id:
        callers = tree.getroot().xpath(
            "//bpmn:callActivity[@calledElement=$ref]", namespaces=NS, ref=missing.group(1)
        )
        if callers:
            element_id = callers[0].get("id")
            label = callers[0].get("name") or element_id
            message = (
                f"The call activity '{label}' calls the process '{missing.group(1)}', which is "
                "not in this file; deploy the file that defines it first, upload both files "
                "together as a bundle, or correct the called element."
            )
    association = re.match(r"Cannot resolve (data(?:Input|Output)Association)", message)
    if association:
        message = _association_message(tree, element_id, association.group(1))
    message = _INTERNAL_REPR.sub(lambda m: m.group(1), message)
    line = getattr(exc, "line_number", None)
    if not isinstance(line, int):
        line = _line_of(tree, element_id)
    return Problem(message, line=line, element_id=element_id, process_id=process_id)


def _not_runnable_yet(process: etree._Element) -> list[Problem]:
    """What in a process powerflow cannot run yet, one problem (warning) per element."""
    pid = process.get("id")
    found = []
    for node in process.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in _NOT_RUNNABLE_YET)):
        if not _unready(node):
            continue
        kind, why = _NOT_RUNNABLE_YET[etree.QName(node).localname]
        label = " ".join((node.get("name") or node.get("id") or "").split())
        found.append(
            Problem(
                f"The {kind} '{label}' {why}.",
                line=node.sourceline,
                element_id=node.get("id"),
                process_id=pid,
                severity="warning",
            )
        )
    return found


def _unready(node: etree._Element) -> bool:
    """A business rule task that names a decision can run; the other kinds never can yet."""
    return etree.QName(node).localname != "businessRuleTask" or decision_ref(node) is None


def _not_runnable_reason(pid: str, process: etree._Element) -> str:
    """One paragraph: each kind of element powerflow cannot run yet, where, and what to do."""
    parts = []
    for tag, (kind, why) in _NOT_RUNNABLE_YET.items():
        nodes = [n for n in process.iter(f"{{{BPMN_NS}}}{tag}") if _unready(n)]
        if nodes:
            where = ", ".join(
                f"'{' '.join((n.get('name') or n.get('id') or '').split())}' (line {n.sourceline})"
                for n in nodes
            )
            parts.append(f"{kind} {where}: it {why}.")
    return (
        f"Process {pid} is stored for viewing and cannot be started: it uses what powerflow "
        "cannot run yet. " + " ".join(p[0].upper() + p[1:] for p in parts)
    )


def for_spiff(tree: etree._ElementTree) -> etree._ElementTree:
    """The tree given to SpiffWorkflow, at upload and each time a stored file is parsed again:
    bare ISO timer values quoted (``timer_expr``), Camunda's multi-instance attributes as the
    standard elements (``camunda_loops``), and without data stores, which its parser refuses
    for the whole file although only the processes that reference them are affected (those
    are stored for viewing, see ``_not_runnable_yet``). The stored XML is never changed."""
    tree = camunda_loops.for_spiff(timer_expr.for_spiff(tree))
    stores = tree.getroot().xpath("./bpmn:dataStore", namespaces=NS)
    if not stores:
        return tree
    copy = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
    for node in copy.getroot().xpath("./bpmn:dataStore", namespaces=NS):
        node.getparent().remove(node)
    return copy


def _association_message(tree: etree._ElementTree, element_id: str | None, kind: str) -> str:
    """A designer's sentence for a data association SpiffWorkflow cannot resolve."""
    reading = kind == "dataInputAssociation"
    refs: list[str] = []
    if element_id:
        for node in tree.getroot().xpath("//*[@id=$eid]", eid=element_id):
            ref = "sourceRef" if reading else "targetRef"
            refs += [r.text.strip() for r in node.iter(f"{{{BPMN_NS}}}{ref}") if r.text]
    what = f"'{refs[0]}'" if refs else "its data"
    verb = "reads" if reading else "writes"
    return (
        f"This task {verb} {what} through a data association, but {what} is not a data "
        "object of this process (powerflow runs data objects only, not process inputs or "
        "outputs); connect the association to a data object reference in the same process, "
        "or remove it."
    )


def _xsd_problems(tree: etree._ElementTree) -> list[Problem]:
    schema = VALIDATOR.validator
    VALIDATOR.preprocess(tree)
    if schema.validate(tree):
        return []
    problems = []
    for err in schema.error_log:
        message = _NAMESPACED.sub(
            lambda m: ("bpmn:" if m.group(1) == BPMN_NS else "") + m.group(2), err.message
        )
        problems.append(
            Problem(
                f"BPMN schema: {message}",
                line=err.line or None,
                element_id=_owner_id(tree, getattr(err, "path", None)),
            )
        )
        if len(problems) >= 20:
            break
    return problems


def _owner_id(tree: etree._ElementTree, path: str | None) -> str | None:
    """The id of the element at an XPath, or of its nearest ancestor that has one."""
    try:
        prefixes = {k: v for k, v in tree.getroot().nsmap.items() if k}
        nodes = tree.xpath(path, namespaces=prefixes) if path else []
    except (etree.XPathError, TypeError, ValueError):
        return None
    node = nodes[0] if isinstance(nodes, list) and nodes else None
    while isinstance(node, etree._Element):
        if node.get("id"):
            return str(node.get("id"))
        node = node.getparent()
    return None


def _python_fragments(spec: Any) -> Iterator[tuple[str, str, str, str]]:
    """Yield (bpmn id, what, source, mode) for every piece of Python in a process spec."""
    for ts in spec.task_specs.values():
        bpmn_id = getattr(ts, "bpmn_id", None) or ts.name
        if isinstance(ts, ScriptTask) and ts.script:
            yield bpmn_id, "script", ts.script, "exec"
        for attr in ("prescript", "postscript"):
            source = getattr(ts, attr, None)
            if source:
                yield bpmn_id, attr, source, "exec"
        for cond, _target in getattr(ts, "cond_task_specs", []) or []:
            args = getattr(cond, "args", None)
            if cond is not None and args:
                yield bpmn_id, "condition", args[0], "eval"
        ed = getattr(ts, "event_definition", None)
        for d in getattr(ed, "event_definitions", [ed]):
            if isinstance(d, TimerEventDefinition):
                yield bpmn_id, "timer", d.expression, "eval"
            if isinstance(d, ConditionalEventDefinition):
                yield bpmn_id, "conditional event", d.expression, "eval"
            if isinstance(d, MessageEventDefinition) and getattr(d, "expression", None):
                yield bpmn_id, "message payload", d.expression, "eval"
        if isinstance(ts, StandardLoopTask) and ts.condition:
            yield bpmn_id, "loop condition", ts.condition, "eval"
        if isinstance(ts, MultiInstanceTask):
            if ts.cardinality:
                yield bpmn_id, "cardinality", ts.cardinality, "eval"
            if ts.condition:
                yield bpmn_id, "completion condition", ts.condition, "eval"


def _lint_spec(tree: etree._ElementTree, process_id: str, specs: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    for spec in specs:
        for bpmn_id, what, source, mode in _python_fragments(spec):
            line = _line_of(tree, bpmn_id)
            if what == "timer" and _UNQUOTED_TIMER.match(source or ""):
                problems.append(
                    Problem(
                        f"Timer expression {source.strip()} must be a quoted string, "
                        f'for example "{source.strip()}" (timer expressions are Python).',
                        line=line,
                        element_id=bpmn_id,
                        process_id=process_id,
                    )
                )
                continue
            try:
                compile_script(source, mode)
            except ScriptRejected as exc:
                problems.append(
                    Problem(
                        f"The {what} is not allowed or not valid: {exc}",
                        line=line,
                        element_id=bpmn_id,
                        process_id=process_id,
                    )
                )
    return problems


def _lint_xml(process: etree._Element, specs: list[Any]) -> list[Problem]:
    pid = process.get("id")
    problems: list[Problem] = []
    for ev in process.xpath(".//bpmn:linkEventDefinition", namespaces=NS):
        owner = ev.getparent()
        problems.append(
            Problem(
                "Link events are not supported; connect the elements with a sequence flow.",
                line=owner.sourceline,
                element_id=owner.get("id"),
                process_id=pid,
            )
        )
    built = {getattr(ts, "bpmn_id", None) for spec in specs for ts in spec.task_specs.values()}
    for node in process:
        if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN_NS:
            continue
        local = etree.QName(node).localname
        if local in _FLOW_NODE_SKIP or not node.get("id"):
            continue
        if node.get("id") not in built:
            problems.append(
                Problem(
                    f"The {local} '{node.get('name') or node.get('id')}' cannot be reached "
                    "from any start event and will never run.",
                    line=node.sourceline,
                    element_id=node.get("id"),
                    process_id=pid,
                    severity="warning",
                )
            )
    for gw in process.xpath(".//bpmn:exclusiveGateway", namespaces=NS):
        outgoing = gw.xpath("./bpmn:outgoing", namespaces=NS)
        if len(outgoing) > 1 and not gw.get("default"):
            problems.append(
                Problem(
                    f"The exclusive gateway '{gw.get('name') or gw.get('id')}' has no default "
                    "flow; an instance fails there when no condition is true.",
                    line=gw.sourceline,
                    element_id=gw.get("id"),
                    process_id=pid,
                    severity="warning",
                )
            )
    return problems


_TRIGGERS = ("message", "signal", "error", "escalation", "conditional")


def _event_subprocess_warnings(process: etree._Element) -> list[Problem]:
    """What SpiffWorkflow 3.2 runs differently from the diagram in an event subprocess."""
    pid = process.get("id")
    problems: list[Problem] = []
    for sub in process.xpath(".//bpmn:subProcess[@triggeredByEvent='true']", namespaces=NS):
        label = f"The event subprocess '{sub.get('name') or sub.get('id')}'"
        for start in sub.xpath("./bpmn:startEvent", namespaces=NS):
            kinds = {
                etree.QName(d).localname.removesuffix("EventDefinition")
                for d in start
                if isinstance(d.tag, str) and etree.QName(d).localname.endswith("EventDefinition")
            }
            messages: list[str] = []
            nested = etree.QName(sub.getparent()).localname != "process"
            if kinds & set(_TRIGGERS) and nested:
                messages.append(
                    f"{label} is inside a subprocess and starts on a {', '.join(sorted(kinds))} "
                    "event: it will never start (such event subprocesses run only at the top "
                    "level of a process); move it to the process level."
                )
            elif "timer" in kinds:
                messages.append(
                    f"{label} starts on a timer: an instance completes only after that timer "
                    "has fired, even when its main flow has ended."
                )
            if start.get("isInterrupting", "true") != "false" and kinds:
                messages.append(
                    f"{label} is interrupting, but it will run beside the main flow without "
                    "interrupting it; model an interrupting boundary event instead."
                )
            problems.extend(
                Problem(
                    m,
                    line=start.sourceline,
                    element_id=start.get("id"),
                    process_id=pid,
                    severity="warning",
                )
                for m in messages
            )
    return problems


def _start_timer_warnings(tree: etree._ElementTree, pid: str, spec: Any) -> list[Problem]:
    """Timer start events powerflow cannot schedule (their value is an expression)."""
    return [
        Problem(
            f"The timer start event '{element_id}' has an expression, not a fixed ISO 8601 "
            "value, so powerflow cannot schedule it: no instance starts on its own; an instance "
            "started by hand waits for the timer.",
            line=_line_of(tree, element_id),
            element_id=element_id,
            process_id=pid,
            severity="warning",
        )
        for element_id in timer_expr.non_constant_start_timers(spec)
    ]


def _flows(process: etree._Element) -> dict[str, dict[str, Any]]:
    """Sequence flows keyed by 'source->target', for reporting which flow a gateway took."""
    out: dict[str, dict[str, Any]] = {}
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        cond = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        out[f"{flow.get('sourceRef')}->{flow.get('targetRef')}"] = {
            "id": flow.get("id"),
            "name": flow.get("name"),
            "condition": (cond.text or "").strip() if cond is not None else None,
        }
    return out


def new_parser() -> SpiffBpmnParser:
    """A SpiffWorkflow parser of the dialect powerflow runs (BPMN + spiffworkflow extensions),
    with powerflow's service tasks (engine/service_tasks.py) and Camunda decision refs."""
    return _Parser()


class _Parser(PowerflowParser):
    """The service-task parser that also reads ``camunda:decisionRef`` on business rule tasks."""

    def get_engine(self, decision_ref: Any, node: Any) -> Any:
        from powerflow.engine.calls import decision_ref as read_ref

        return super().get_engine(decision_ref or read_ref(node), node)


def add_decisions(parser: SpiffBpmnParser, decisions: Mapping[str, bytes]) -> None:
    """Give a parser the DMN files its business rule tasks evaluate (already validated)."""
    for ref, xml in sorted(decisions.items()):
        tree = parse_untrusted(xml, max_bytes=len(xml) + 1, namespaces=DMN_NAMESPACES)
        parser.add_dmn_xml(tree.getroot(), filename=f"{ref}.dmn")


def compile_bpmn(
    data: bytes, filename: str, *, max_bytes: int, decisions: Mapping[str, bytes] | None = None
) -> CompileResult:
    """Validate an upload and build every process in it; never raises for bad input.

    ``decisions`` holds the DMN files (by decision id) its business rule tasks may evaluate:
    the deployed ones and those uploaded with it.
    """
    digest = content_hash(data)
    try:
        tree = parse_untrusted(data, max_bytes=max_bytes)
    except XmlRejected as exc:
        return CompileResult(digest, [], exc.problems)
    problems = (
        _xsd_problems(tree) or timer_expr.problems(tree) or misbound_namespace(tree.getroot())
    )
    if problems:
        return CompileResult(digest, [], problems)

    infos: list[tuple[etree._Element, ProcessInfo]] = []
    unassigned: dict[str, list[Problem]] = {}
    for process in tree.getroot().xpath("./bpmn:process", namespaces=NS):
        info, meta_problems = read_process(process)
        problems.extend(p for p in meta_problems if p.severity == "error")
        infos.append((process, info))
        lines = {n.get("id"): n.sourceline for n in process.iter() if isinstance(n.tag, str)}
        found = unassigned_human_tasks(info, lines)
        problems.extend(p for p in found if p.severity == "error")
        unassigned[info.process_id] = [p for p in meta_problems if p.severity == "warning"]
        unassigned[info.process_id] += [p for p in found if p.severity == "warning"]
        service = upload_problems(process)  # service tasks: topics, operators, declarations
        problems.extend(p for p in service if p.severity == "error")
        unassigned[info.process_id] += [p for p in service if p.severity == "warning"]
    if not infos:
        problems.append(Problem("The file contains no bpmn:process element.", line=1))
    if problems:
        return CompileResult(digest, [], problems)

    rule_tasks, rule_problems = decision_tasks(tree.getroot(), decisions or {})
    rule_problems += unnamed_calls(tree.getroot())
    if rule_problems:
        return CompileResult(digest, [], rule_problems)
    parser = new_parser()
    try:
        add_decisions(parser, {ref: (decisions or {})[ref] for ref in set(rule_tasks.values())})
        parser.add_bpmn_xml(for_spiff(tree), filename=filename)
    except (ValidationException, SpiffWorkflowException) as exc:
        return CompileResult(digest, [], [_spiff_problem(tree, exc, None)])

    by_id = {info.process_id: (process, info) for process, info in infos}
    compiled: list[CompiledProcess] = []
    for process, info in infos:
        pid = info.process_id
        reason = None
        flows = _flows(process)
        if not info.executable:
            reason = f'Process {pid} is not executable (isExecutable="false"): stored for viewing.'
            foreign = foreign_problems(process, runs=False)
            compiled.append(_for_viewing(info, flows, reason, unassigned[pid] + foreign))
            continue
        not_yet = _not_runnable_yet(process)
        java = not_runnable(process)  # service tasks naming Java code
        if not_yet or java:
            reason = _not_runnable_reason(pid, process) + "".join(" " + p.message for p in java)
            compiled.append(
                _for_viewing(
                    info,
                    flows,
                    reason,
                    not_yet + java + unassigned[pid] + foreign_problems(process, runs=False),
                )
            )
            continue
        foreign = foreign_problems(process, runs=True)
        if any(p.severity == "error" for p in foreign):  # JUEL: say so, not "invalid syntax"
            problems.extend(p for p in foreign if p.severity == "error")
            continue
        try:
            spec = parser.get_spec(pid)
            subprocess_specs, elsewhere = walk_subprocess_specs(parser, pid)
        except (ValidationException, SpiffWorkflowException) as exc:
            problems.append(_spiff_problem(tree, exc, pid))
            continue
        except (KeyError, AttributeError, TypeError, NotImplementedError) as exc:
            problems.append(
                Problem(
                    f"This process cannot be built: {exc}", process_id=pid, line=process.sourceline
                )
            )
            continue
        all_specs = [spec, *[s for s in subprocess_specs.values() if s is not None]]
        calls, call_problems = external_calls(tree.getroot(), elsewhere, pid)
        problems.extend(call_problems)
        lint = (
            _lint_spec(tree, pid, all_specs)
            + _lint_xml(process, all_specs)
            + _event_subprocess_warnings(process)
            + _start_timer_warnings(tree, pid, spec)
            + objection_name_problems(process, info, all_specs)
        )
        problems.extend(p for p in lint if p.severity == "error")
        elements = dict(info.elements)
        rules = list(info.rules)
        owners: dict[str, str] = {}
        # A call activity runs the called process's tasks inside this instance: their roles,
        # forms and rules must be known here too (ids are unique within a file, so nothing
        # collides). ``called`` says which process owns each such element (API rules match
        # on it) and each called rule carries its own process.
        for called in subprocess_specs:
            if called in by_id and called != pid:
                called_process, called_info = by_id[called]
                elements = {**_with_own_default(called_info), **elements}
                flows = {**_flows(called_process), **flows}
                owners.update({e: called for e in called_info.elements if e not in info.elements})
                rules += [{**rule, "process": called} for rule in called_info.rules]
        compiled.append(
            CompiledProcess(
                pid,
                info.name,
                True,
                None,
                info.metadata,
                elements,
                flows,
                warnings=[p for p in lint if p.severity == "warning"] + unassigned[pid] + foreign,
                accepts_data=info.accepts_data,
                start=info.start,
                rules=rules,
                called=owners,
                calls={k: c.as_dict() for k, c in calls.items()},
                decisions=rule_tasks,
                timer_starts=[t.__dict__ for t in timer_expr.start_timers(spec)],
            )
        )
    return CompileResult(digest, compiled, _located(problems, infos))


def _with_own_default(info: ProcessInfo) -> dict[str, ElementInfo]:
    """A called process's elements, each carrying the called process's own data rule: a task
    without a form must not fall back to the *calling* process's ``pf:acceptsData``."""
    default: AcceptsData = info.accepts_data if info.accepts_data is not None else []
    return {
        key: element
        if element.form or element.accepts_data is not None
        else replace(element, accepts_data=default)
        for key, element in info.elements.items()
    }


def _for_viewing(
    info: ProcessInfo,
    flows: dict[str, dict[str, Any]],
    reason: str,
    warnings: list[Problem] | None = None,
) -> CompiledProcess:
    """A process stored so that it can be viewed, but not started (``reason`` says why)."""
    return CompiledProcess(
        info.process_id,
        info.name,
        False,
        reason,
        info.metadata,
        info.elements,
        flows,
        warnings or [],
        accepts_data=info.accepts_data,
        start=info.start,
        rules=info.rules,
    )


def _located(
    problems: list[Problem], infos: list[tuple[etree._Element, ProcessInfo]]
) -> list[Problem]:
    """Every problem of a process names an element and a line: the process itself at worst."""
    lines = {info.process_id: process.sourceline for process, info in infos}
    return [
        replace(
            p,
            element_id=p.element_id or p.process_id,
            line=p.line or lines.get(p.process_id or ""),
        )
        if p.process_id in lines and not (p.element_id and p.line)
        else p
        for p in problems
    ]


@dataclass(frozen=True)
class LoadedProcess:
    """A parsed process spec shared by every instance of one definition version."""

    key: str
    content_hash: str
    spec: Any
    subprocess_specs: dict[str, Any]
    catalog: dict[str, Any]
    # (called process id, ref) of the specs from other deployments this spec is bound to
    bound: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        """The reference written into saved state instead of the spec itself."""
        return f"{self.content_hash}:{self.key}"


Decisions = Mapping[str, tuple[str, bytes]]  # decision id -> (its ref, its DMN file)


class _SpecCache:
    """LRU of parsed specs keyed by (content hash, process id, bound decision refs); parsing
    costs about 1 ms."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[str, str, tuple[str, ...]], LoadedProcess] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def peek(
        self, digest: str, process_id: str, decisions: tuple[str, ...] = ()
    ) -> LoadedProcess | None:
        with self._lock:
            return self._items.get((digest, process_id, decisions))

    def get(
        self,
        digest: str,
        process_id: str,
        xml: bytes,
        catalog: dict[str, Any],
        decisions: Decisions | None = None,
    ) -> LoadedProcess:
        chosen = dict(decisions or {})
        refs = tuple(sorted(ref for ref, _xml in chosen.values()))
        key = (digest, process_id, refs)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        tree = parse_untrusted(xml, max_bytes=len(xml) + 1)
        parser = new_parser()
        add_decisions(parser, {d: dmn for d, (_ref, dmn) in chosen.items()})
        filename = str(catalog.get("file") or f"{process_id}.bpmn")  # named in task traces
        parser.add_bpmn_xml(for_spiff(tree), filename=filename)
        loaded = LoadedProcess(
            key=process_id,
            content_hash=digest,
            spec=parser.get_spec(process_id),
            subprocess_specs=walk_subprocess_specs(parser, process_id)[0],
            catalog=catalog,
            bound=tuple(sorted((f"dmn:{d}", ref) for d, (ref, _xml) in chosen.items())),
        )
        for spec in (loaded.spec, *loaded.subprocess_specs.values()):
            if spec is not None:
                prepare_spec(spec)
        with self._lock:
            self._items[key] = loaded
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return loaded


SPEC_CACHE = _SpecCache()


def load_process(
    digest: str,
    process_id: str,
    xml: bytes,
    catalog: dict[str, Any],
    decisions: Decisions | None = None,
) -> LoadedProcess:
    """The runnable spec of a deployed definition, parsed once per process, content hash and
    set of decision tables its business rule tasks are bound to."""
    return SPEC_CACHE.get(digest, process_id, xml, catalog, decisions)


def cached_process(
    digest: str, process_id: str, decision_refs: tuple[str, ...] = ()
) -> LoadedProcess | None:
    """The parsed spec if it is already cached (saves reading the XML from the database);
    ``decision_refs`` are the sorted refs of the decisions it is bound to."""
    return SPEC_CACHE.peek(digest, process_id, decision_refs)


def element_name(xml: bytes, element_id: str) -> str | None:
    """The name of an element in a BPMN file, if the file can still be read; never raises.

    Used to name the element of an incident when the definition cannot be built any more.
    """
    try:
        tree = parse_untrusted(xml, max_bytes=len(xml) + 1)
        found = tree.getroot().xpath("//*[@id=$eid]", eid=element_id)
        name = found[0].get("name") if found else None
    except Exception:  # unreadable file: no name
        return None
    return str(name) if name else None
