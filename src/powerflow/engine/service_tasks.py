"""What a ``bpmn:serviceTask`` does in powerflow, read from its XML, and the specs that run it.

Three kinds, decided per element by ``read_service_task``:

* **connector**: a ``spiffworkflow:serviceTaskOperator`` names a Python connector installed
  through the entry-point group ``powerflow.connectors`` (``engine/connectors.py``); it runs
  synchronously inside the step.
* **external**: ``camunda:type="external" camunda:topic="..."``, ``pf:externalTask topic="..."``
  or ``zeebe:taskDefinition type="..."``; a plain service task that names nothing is an external
  task of the topic equal to its id (a warning at upload says so). The task waits (SpiffWorkflow
  state STARTED) until a worker completes it over HTTP (``engine/external.py``).
* **code**: ``camunda:class``, ``camunda:delegateExpression``, ``camunda:expression`` or
  ``camunda:connector``: Java code in Camunda's engine, which powerflow cannot run (the process is
  stored for viewing, with that reason).

Declared inputs (``camunda:inputParameter``, ``pf:externalTask inputs``) are the only variables a
worker receives; declared outputs (``camunda:outputParameter``, ``pf:externalTask outputs``) are
the only variables it may submit.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask as BpmnServiceTask
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser, SpiffTaskParser
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter, SpiffBpmnTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask as SpiffServiceTask
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask

from powerflow.engine import connectors
from powerflow.engine.limits import ScriptLimitExceeded
from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS

PF_NS = "urn:powerflow:bpmn:1.0"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_NS = {"bpmn": BPMN_NS, "pf": PF_NS, "camunda": CAMUNDA_NS, "zeebe": ZEEBE_NS, "spiff": SPIFF_NS}
CODE_ATTRIBUTES = ("class", "delegateExpression", "expression")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$")
_REFERENCE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")

Kind = Literal["connector", "external", "code"]


@dataclass(frozen=True)
class Mapping:
    """One declared variable: ``name`` on the receiving side, taken from variable ``source``
    (or, without a source, the constant ``constant``)."""

    name: str
    source: str | None
    constant: str | None = None


@dataclass
class ServiceTaskConfig:
    """What one service task does; ``problems`` are upload errors, ``notes`` warnings."""

    kind: Kind
    topic: str | None = None
    operator: str | None = None
    code: str | None = None  # the Camunda attribute naming Java code
    priority: int = 0
    inputs: tuple[Mapping, ...] | None = None  # None: not declared
    outputs: tuple[Mapping, ...] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _label(node: etree._Element) -> str:
    return " ".join((node.get("name") or node.get("id") or "").split())


def _parameters(config: ServiceTaskConfig, node: etree._Element, tag: str) -> tuple[Mapping, ...]:
    """camunda:inputParameter / outputParameter: a name and ``${variable}``, a constant, or
    nothing (the variable of the same name)."""
    found: list[Mapping] = []
    for param in node.xpath(
        f"./bpmn:extensionElements/camunda:inputOutput/camunda:{tag}", namespaces=_NS
    ):
        name = (param.get("name") or "").strip()
        if not NAME.match(name):
            config.problems.append(
                f"The camunda:{tag} '{name}' is not a variable name (a letter or '_', then "
                "letters, digits or '_')."
            )
            continue
        if len(param):  # camunda:script, camunda:list, camunda:map
            config.problems.append(
                f"The camunda:{tag} '{name}' uses a script, list or map, which powerflow does "
                "not evaluate; write ${variable} or leave it empty (the variable of the same "
                "name)."
            )
            continue
        text = (param.text or "").strip()
        reference = _REFERENCE.match(text)
        if not text:
            found.append(Mapping(name, name))
        elif reference:
            found.append(Mapping(name, reference.group(1)))
        elif "${" in text or "#{" in text:
            config.problems.append(
                f"The camunda:{tag} '{name}' holds the expression {text}, which powerflow does "
                "not evaluate (it is JUEL); write ${variable} or leave it empty."
            )
        elif tag == "outputParameter":
            config.problems.append(
                f"The camunda:outputParameter '{name}' holds the constant '{text}'; an output "
                "takes a variable the worker submits: write ${variable} or leave it empty."
            )
        else:
            found.append(Mapping(name, None, text))
    return tuple(found)


def read_service_task(node: etree._Element) -> ServiceTaskConfig:
    """What a bpmn:serviceTask element does (see the module docstring)."""
    label = _label(node)
    operator = node.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}serviceTaskOperator")
    if operator is not None:
        name = (operator.get("id") or "").strip()
        config = ServiceTaskConfig("connector", operator=name)
        if not name:
            config.problems.append(f"The service task '{label}' has an operator without an id.")
        elif not connectors.known(name):
            config.notes.append(
                f"The service task '{label}' calls the operator '{name}', and no connector of "
                "that name is installed (entry-point group powerflow.connectors); an instance "
                "will stop there with an incident until it is."
            )
        return config
    code = next((a for a in CODE_ATTRIBUTES if node.get(f"{{{CAMUNDA_NS}}}{a}")), None)
    if (
        code is None
        and node.find(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}connector") is not None
    ):
        code = "connector"
    if code is not None:
        return ServiceTaskConfig("code", code=code)
    config = ServiceTaskConfig("external")
    pf = node.find(f"{{{BPMN_NS}}}extensionElements/{{{PF_NS}}}externalTask")
    zeebe = node.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}taskDefinition")
    camunda_type = node.get(f"{{{CAMUNDA_NS}}}type")
    if pf is not None:
        config.topic = (pf.get("topic") or "").strip()
        _pf_declarations(config, pf)
    elif camunda_type is not None:
        if camunda_type != "external":
            config.problems.append(
                f"The service task '{label}' has camunda:type=\"{camunda_type}\"; powerflow "
                'runs camunda:type="external" (with camunda:topic) only.'
            )
        config.topic = (node.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
    elif zeebe is not None:
        config.topic = (zeebe.get("type") or "").strip()
    else:
        config.topic = node.get("id") or ""
        config.notes.append(
            f"The service task '{label}' names no topic and no operator: it waits as an "
            f"external task of the topic '{config.topic}' (its id) until a worker completes it. "
            'Name the topic with camunda:type="external" camunda:topic="...", or call a '
            "connector with spiffworkflow:serviceTaskOperator."
        )
    if not TOPIC.match(config.topic or ""):
        config.problems.append(
            f"The service task '{label}' needs a topic of letters, digits, '.', '_', ':', '/' "
            f"or '-' (at most 255 characters), not '{config.topic}'."
        )
    priority = node.get(f"{{{CAMUNDA_NS}}}taskPriority") or (
        pf.get("priority") if pf is not None else None
    )
    if priority is not None:
        try:
            config.priority = int(priority)
        except ValueError:
            config.problems.append(
                f"The service task '{label}' has the priority '{priority}', which is not a "
                "whole number."
            )
    if pf is None:
        declared_in = node.find(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}inputOutput")
        if declared_in is not None:
            config.inputs = _parameters(config, node, "inputParameter")
            config.outputs = _parameters(config, node, "outputParameter")
    return config


def _pf_declarations(config: ServiceTaskConfig, pf: etree._Element) -> None:
    """``pf:externalTask inputs="a,b" outputs="c"``: variable names, comma-separated."""
    for attribute in ("inputs", "outputs"):
        value = pf.get(attribute)
        if value is None:
            continue
        names = _csv(value)
        bad = [n for n in names if not NAME.match(n)]
        if bad:
            config.problems.append(
                f"pf:externalTask's {attribute} must be variable names separated by commas; "
                f"'{bad[0]}' is not one."
            )
            continue
        setattr(config, attribute, tuple(Mapping(n, n) for n in names))


class ExternalServiceTask(BpmnServiceTask, SpiffBpmnTask):  # type: ignore[misc]
    """A service task done by a worker outside the engine: running it leaves it STARTED."""

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        *,
        topic: str,
        priority: int = 0,
        inputs: tuple[Mapping, ...] | None = None,
        outputs: tuple[Mapping, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.topic = topic
        self.priority = priority
        self.declared_inputs = inputs  # not ``inputs``: TaskSpec's incoming specs
        self.declared_outputs = outputs

    def _execute(self, task: Any) -> None:
        return None  # STARTED: waits for a worker (engine/external.py completes it)


def _mappings(found: tuple[Mapping, ...] | None) -> list[dict[str, Any]] | None:
    return None if found is None else [dataclasses.asdict(m) for m in found]


class ExternalTaskConverter(SpiffBpmnTaskConverter):  # type: ignore[misc]
    """An external task's spec as a dict, for SpiffWorkflow's registry: what migration's
    ``diff_workflow`` compares (a changed topic, priority, inputs or outputs is a change).
    Saved state never holds specs; this is for comparing versions."""

    def to_dict(self, spec: ExternalServiceTask) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        dct["topic"] = spec.topic
        dct["priority"] = spec.priority
        dct["inputs"] = _mappings(spec.declared_inputs)
        dct["outputs"] = _mappings(spec.declared_outputs)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        for key in ("inputs", "outputs"):
            if dct.get(key) is not None:
                dct[key] = tuple(Mapping(**m) for m in dct[key])
        return self.task_spec_from_dict(dct)


class ConnectorServiceTask(SpiffServiceTask):  # type: ignore[misc]
    """A Spiff operator service task that calls an installed connector, inside the step."""

    def _execute(self, task: Any) -> bool:
        params = {name: p["value"] for name, p in self.evaluate_params(task).items()}
        try:
            result = connectors.call(self.operation_name, params)
        except (connectors.ConnectorFailed, ScriptLimitExceeded) as exc:  # names the task
            raise WorkflowTaskException(str(exc), task=task) from exc
        task.data[self.result_variable] = result
        return True


class ConnectorTaskConverter(ServiceTaskConverter):  # type: ignore[misc]
    """A connector task's spec as a dict (SpiffWorkflow's own service task shape)."""


SPEC_CONVERTERS: dict[type, type] = {
    ExternalServiceTask: ExternalTaskConverter,
    ConnectorServiceTask: ConnectorTaskConverter,
}


class PfServiceTaskParser(SpiffTaskParser):  # type: ignore[misc]
    """Builds a connector task for a Spiff operator, an external task otherwise."""

    def create_task(self) -> Any:
        config = read_service_task(self.node)
        if config.kind == "connector":
            self.spec_class = ConnectorServiceTask
            return ServiceTaskParser.create_task(self)
        extensions = self.parse_extensions()
        return ExternalServiceTask(
            self.spec,
            self.bpmn_id,
            topic=config.topic or self.bpmn_id,
            priority=config.priority,
            inputs=config.inputs,
            outputs=config.outputs,
            prescript=extensions.get("preScript"),
            postscript=extensions.get("postScript"),
            **self.bpmn_attributes,
        )


def upload_problems(process: etree._Element) -> list[Problem]:
    """What the upload says about a process's service tasks: errors (a topic that is not one,
    an expression powerflow does not evaluate), warnings (the default topic, an operator with
    no connector installed), and, as warnings, the tasks naming Java code (``not_runnable``)."""
    pid = process.get("id")
    found: list[Problem] = []
    for node in process.iter(f"{{{BPMN_NS}}}serviceTask"):
        config = read_service_task(node)
        for message, severity in [(p, "error") for p in config.problems] + [
            (n, "warning") for n in config.notes
        ]:
            found.append(
                Problem(
                    message,
                    line=node.sourceline,
                    element_id=node.get("id"),
                    process_id=pid,
                    severity=severity,  # type: ignore[arg-type]
                )
            )
    return found


def not_runnable(process: etree._Element) -> list[Problem]:
    """Service tasks naming Java code (camunda:class and the like): powerflow cannot run them,
    so their process is stored for viewing (one warning per task, saying what to do)."""
    pid = process.get("id")
    found = []
    for node in process.iter(f"{{{BPMN_NS}}}serviceTask"):
        config = read_service_task(node)
        if config.kind == "code":
            found.append(
                Problem(
                    f"The service task '{_label(node)}' (line {node.sourceline}) calls Java code "
                    f"(camunda:{config.code}), which powerflow cannot run; make it an external "
                    'task (camunda:type="external" camunda:topic="...") done by a worker, or call '
                    "a connector (spiffworkflow:serviceTaskOperator).",
                    line=node.sourceline,
                    element_id=node.get("id"),
                    process_id=pid,
                    severity="warning",
                )
            )
    return found


class PowerflowParser(SpiffBpmnParser):  # type: ignore[misc]
    """SpiffWorkflow's Spiff-dialect parser with powerflow's service tasks."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        f"{{{BPMN_NS}}}serviceTask": (PfServiceTaskParser, ExternalServiceTask),
    }
