"""DMN decision tables: compile an uploaded .dmn file, and find which decisions a BPMN file's
business rule tasks evaluate.

SpiffWorkflow evaluates every DMN cell as Python with the workflow's script engine (the top
workflow's, which powerflow always sets to ``RESTRICTED_ENGINE``). Cells are compiled here at
upload under the same restricted compiler as scripts, exactly as SpiffWorkflow's ``DMNEngine``
will evaluate them (an input entry ``< 1000`` runs as ``amount < 1000``, ``"low"`` as
``(amount) == ("low")``, ``? > 3`` with ``?`` standing for the input).
"""

from __future__ import annotations

import ast
import re
import threading
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS
from SpiffWorkflow.exceptions import SpiffWorkflowException

from powerflow.engine.calls import DMN_NAMESPACES, decision_ref
from powerflow.engine.compiler import CompiledProcess, CompileResult, content_hash, new_parser
from powerflow.engine.extensions import StartInfo
from powerflow.engine.scripting import ScriptRejected, compile_script
from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS, XmlRejected, parse_untrusted

_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # as DMNEngine.evaluate
_VALIDATORS: dict[str, etree.XMLSchema] = {}
_LOCK = threading.Lock()


def is_dmn(data: bytes, filename: str) -> bool:
    """Whether an upload is a DMN file: named .dmn, or its start declares a DMN namespace and
    not BPMN's."""
    if filename.lower().endswith(".dmn"):
        return True
    head = data[:4096]
    return b"omg.org/spec/DMN/" in head and BPMN_NS.encode() not in head


def decision_refs(data: bytes, max_bytes: int) -> list[str]:
    """The decisions a BPMN file's business rule tasks evaluate (empty if it cannot be read)."""
    try:
        tree = parse_untrusted(data, max_bytes=max_bytes)
    except XmlRejected:
        return []
    found = []
    for node in tree.getroot().iter(f"{{{BPMN_NS}}}businessRuleTask"):
        ref = decision_ref(node)
        if ref and ref not in found:
            found.append(ref)
    return found


class _Dmn12Imports(etree.Resolver):  # type: ignore[misc]
    """The DMN 1.2 schema's imports, repaired. SpiffWorkflow 3.2 ships as ``DMNDI12.xsd`` the
    DMN 1.2 *DI* schema (namespace .../20180521/DI/), so ``DMN12.xsd``'s import of the DMNDI
    namespace (.../20180521/DMNDI/) resolves nothing and the schema cannot be built at all.
    The DMNDI 1.3 schema it also ships declares the same elements: it stands in for DMNDI 1.2
    under the 1.2 namespace."""

    def __init__(self) -> None:
        super().__init__()
        dmndi13 = _xsd("DMNDI13.xsd")
        self.files = {
            "DMNDI12.xsd": dmndi13.replace(DMNDI13_NS, DMNDI12_NS).replace(
                b'schemaLocation="DMNDI12.xsd"', b'schemaLocation="DI12.xsd"'
            ),
            "DI12.xsd": _xsd("DMNDI12.xsd"),
            "DC.xsd": _xsd("DC.xsd"),
        }

    def resolve(self, url: str | None, pubid: str | None, context: Any) -> Any:
        name = (url or "").rsplit("/", 1)[-1]
        return self.resolve_string(self.files[name], context) if name in self.files else None


DMN12_NS = "http://www.omg.org/spec/DMN/20180521/MODEL/"
DMNDI12_NS = b"http://www.omg.org/spec/DMN/20180521/DMNDI/"
DMNDI13_NS = b"https://www.omg.org/spec/DMN/20191111/DMNDI/"


def _xsd(name: str) -> bytes:
    return Path(SCHEMAS[DMN12_NS]).with_name(name).read_bytes()


def _dmn12_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_Dmn12Imports())
    root = etree.fromstring(_xsd("DMN12.xsd"), parser, base_url="powerflow-dmn12:/DMN12.xsd")
    return etree.XMLSchema(etree.ElementTree(root))


def _validator(namespace: str) -> etree.XMLSchema:
    with _LOCK:
        if namespace not in _VALIDATORS:
            if namespace == DMN12_NS:
                _VALIDATORS[namespace] = _dmn12_schema()
            else:
                _VALIDATORS[namespace] = BpmnValidator(SCHEMAS[namespace]).validator
        return _VALIDATORS[namespace]


def _schema_problems(tree: etree._ElementTree, namespace: str) -> list[Problem]:
    schema = _validator(namespace)
    if schema.validate(tree):
        return []
    return [
        Problem(f"DMN schema: {err.message}", line=err.line or None)
        for err in list(schema.error_log)[:20]
    ]


def compile_dmn(data: bytes, filename: str, *, max_bytes: int) -> CompileResult:
    """Validate a DMN upload and lint its cells; never raises for bad input. Each decision is
    returned as a ``CompiledProcess`` that cannot be started (business rule tasks run it)."""
    digest = content_hash(data)
    try:
        tree = parse_untrusted(data, max_bytes=max_bytes, namespaces=DMN_NAMESPACES)
    except XmlRejected as exc:
        return CompileResult(digest, [], exc.problems)
    root = tree.getroot()
    ns = etree.QName(root).namespace or ""
    problems = _schema_problems(tree, ns)
    if problems:
        return CompileResult(digest, [], problems)
    decisions = root.findall(f"{{{ns}}}decision")
    if len(decisions) != 1:
        message = (
            "The file contains no DMN decision."
            if not decisions
            else "The file contains several decisions; powerflow runs one decision per DMN file: "
            "put each decision in its own file."
        )
        return CompileResult(digest, [], [Problem(message, line=root.sourceline)])
    decision = decisions[0]
    decision_id = str(decision.get("id"))
    tables = decision.findall(f"{{{ns}}}decisionTable")
    if not tables:
        return CompileResult(
            digest,
            [],
            [
                Problem(
                    f"The decision '{decision_id}' has no decision table; powerflow runs "
                    "decision tables only (not literal expressions or decision graphs).",
                    line=decision.sourceline,
                    element_id=decision_id,
                )
            ],
        )
    parser = new_parser()
    try:
        parser.add_dmn_xml(root, filename=filename)
        parser.dmn_parsers[decision_id].parse()
    except (ValidationException, SpiffWorkflowException, KeyError, AttributeError) as exc:
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        return CompileResult(
            digest, [], [Problem(f"The decision table cannot be read: {message}", line=1)]
        )
    table = tables[0]
    problems = _lint_table(table, ns, decision_id)
    warnings = []
    if len(tables) > 1:
        warnings.append(
            Problem(
                f"The decision '{decision_id}' has {len(tables)} decision tables; only the first "
                "is evaluated.",
                line=tables[1].sourceline,
                element_id=decision_id,
                severity="warning",
            )
        )
    name = " ".join((decision.get("name") or decision_id).split())
    summary = {
        "hit_policy": (table.get("hitPolicy") or "UNIQUE").upper(),
        "inputs": [
            (i.findtext(f"{{{ns}}}inputExpression/{{{ns}}}text") or i.get("label") or "").strip()
            for i in table.findall(f"{{{ns}}}input")
        ],
        "outputs": [
            o.get("name") or o.get("label") or "" for o in table.findall(f"{{{ns}}}output")
        ],
        "rules": len(table.findall(f"{{{ns}}}rule")),
    }
    compiled = CompiledProcess(
        decision_id,
        name,
        False,
        f"'{decision_id}' is a decision table: business rule tasks evaluate it; it is not "
        "started on its own.",
        {},
        {},
        {},
        warnings=warnings,
        start=StartInfo(),
        decision=summary,
    )
    return CompileResult(digest, [compiled], problems)


def _lint_table(table: etree._Element, ns: str, decision_id: str) -> list[Problem]:
    """Compile every cell the way DMNEngine evaluates it, under the restricted compiler."""
    inputs = [
        (i.findtext(f"{{{ns}}}inputExpression/{{{ns}}}text") or "").strip()
        for i in table.findall(f"{{{ns}}}input")
    ]
    problems: list[Problem] = []

    def check(source: str, where: etree._Element, what: str) -> None:
        try:
            compile_script(source, "eval")
        except ScriptRejected as exc:
            problems.append(
                Problem(
                    f"The {what} is not allowed or not valid: {exc}",
                    line=where.sourceline,
                    element_id=where.get("id") or decision_id,
                )
            )

    for node, expression in zip(table.findall(f"{{{ns}}}input"), inputs, strict=True):
        if expression:
            check(expression, node, f"input expression '{expression}'")
    for rule in table.findall(f"{{{ns}}}rule"):
        entries = rule.findall(f"{{{ns}}}inputEntry")
        for index, entry in enumerate(entries):
            text = (entry.findtext(f"{{{ns}}}text") or "").strip()
            if not text or text == "-":
                continue
            source = inputs[index] if index < len(inputs) else ""
            check(_as_evaluated(source or "None", text), entry, f"input entry '{text}'")
        for entry in rule.findall(f"{{{ns}}}outputEntry"):
            text = (entry.findtext(f"{{{ns}}}text") or "").strip()
            if text:
                check(text, entry, f"output entry '{text}'")
    return problems


def _as_evaluated(input_expr: str, match_expr: str) -> str:
    """The expression DMNEngine.evaluate builds from an input and one of its entries."""
    if _QUESTION.search(match_expr):
        return _QUESTION.sub("(" + input_expr + ")", match_expr)
    try:
        ast.parse(match_expr)
        return f"({input_expr}) == ({match_expr})"
    except SyntaxError:
        return input_expr + " " + match_expr
