"""Camunda's multi-instance attributes, read as the standard BPMN elements they stand for.

Camunda Modeler writes a multi-instance's collection and item as attributes
(``camunda:collection="reviewers" camunda:elementVariable="reviewer"``), not as the standard
``bpmn:loopDataInputRef`` and ``bpmn:inputDataItem``; SpiffWorkflow's BPMN parser reads only
the standard elements and refuses such a task ("must specify a cardinality or a loop input data
reference"). Before a file is given to SpiffWorkflow (at upload and each time a stored file is
parsed again) the attributes are rewritten as the elements, with the meaning SpiffWorkflow's own
Camunda parser gives them: each instance gets one item of the collection in the element
variable, and the collection is updated in place with each instance's value of that variable.
With a ``bpmn:loopCardinality`` the element variable holds the instance's index and the values
are collected into the collection. The stored XML is never changed.

Only a variable name (``reviewers`` or ``${reviewers}``) can be iterated; any other value is
left alone and ``foreign_problems`` names it.
"""

from __future__ import annotations

import re

from lxml import etree

from powerflow.engine.xml import BPMN_NS

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
COLLECTION = f"{{{CAMUNDA_NS}}}collection"
ELEMENT_VARIABLE = f"{{{CAMUNDA_NS}}}elementVariable"
_JUEL_NAME = re.compile(r"^\$\{\s*([A-Za-z_]\w*)\s*\}$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")
# The standard children of multiInstanceLoopCharacteristics, in the XSD's order.
_ORDER = (
    "loopCardinality",
    "loopDataInputRef",
    "loopDataOutputRef",
    "inputDataItem",
    "outputDataItem",
    "complexBehaviorDefinition",
    "completionCondition",
)


def variable_name(value: str | None) -> str | None:
    """The task-data variable a ``camunda:collection`` or ``camunda:elementVariable`` names
    (``reviewers`` or ``${reviewers}``), or None when it is anything else."""
    if value is None:
        return None
    text = value.strip()
    juel = _JUEL_NAME.match(text)
    if juel:
        return juel.group(1)
    return text if _NAME.match(text) else None


def honoured(loop: etree._Element, attribute: str) -> bool:
    """Whether ``attribute`` (``collection`` or ``elementVariable``) of a multi-instance's
    loop characteristics is read by powerflow (see the module's docstring)."""
    if _has_standard_data(loop):
        return False
    collection = loop.get(COLLECTION)
    element = loop.get(ELEMENT_VARIABLE)
    if collection is not None and variable_name(collection) is None:
        return False
    if element is not None and variable_name(element) is None:
        return False
    cardinality = loop.find(f"{{{BPMN_NS}}}loopCardinality") is not None
    if attribute == "collection":
        return collection is not None
    return element is not None and (collection is not None or cardinality)


def _has_standard_data(loop: etree._Element) -> bool:
    return any(
        loop.find(f"{{{BPMN_NS}}}{tag}") is not None
        for tag in ("loopDataInputRef", "loopDataOutputRef", "inputDataItem", "outputDataItem")
    )


def _loops(root: etree._Element) -> list[etree._Element]:
    return [
        loop
        for loop in root.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics")
        if honoured(loop, "collection") or honoured(loop, "elementVariable")
    ]


def _insert(loop: etree._Element, tag: str, text: str | None = None, **attrib: str) -> None:
    child = etree.Element(f"{{{BPMN_NS}}}{tag}", attrib)
    child.text = text
    after = _ORDER.index(tag)
    position = 0
    for index, existing in enumerate(loop):
        local = etree.QName(existing).localname if isinstance(existing.tag, str) else ""
        if local in _ORDER and _ORDER.index(local) < after:
            position = index + 1
    loop.insert(position, child)


def for_spiff(tree: etree._ElementTree) -> etree._ElementTree:
    """The tree with Camunda's multi-instance attributes written as standard elements.

    Returns ``tree`` itself when there are none, else a changed copy.
    """
    if not _loops(tree.getroot()):
        return tree
    copy = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
    for loop in _loops(copy.getroot()):
        collection = variable_name(loop.get(COLLECTION))
        element = variable_name(loop.get(ELEMENT_VARIABLE))
        has_cardinality = loop.find(f"{{{BPMN_NS}}}loopCardinality") is not None
        if collection is not None and not has_cardinality:
            _insert(loop, "loopDataInputRef", collection)
        if collection is not None:
            _insert(loop, "loopDataOutputRef", collection)
        if element is not None:
            _insert(loop, "inputDataItem", id=element, name=element)
            _insert(loop, "outputDataItem", id=element, name=element)
    return copy
