"""Hardened XML loading for untrusted uploads.

SpiffWorkflow parses with lxml's defaults; uploads are parsed here first with entities, DTDs and
network access switched off, and only the resulting tree is handed to the BPMN parser.
"""

from __future__ import annotations

import re

from lxml import etree

from powerflow.engine.types import Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DOCTYPE_MESSAGE = "DOCTYPE declarations and entities are not allowed in uploaded BPMN."
# Before any element: optional BOM, XML declaration, comments and processing instructions.
_DOCTYPE_IN_PROLOGUE = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!DOCTYPE", re.DOTALL | re.IGNORECASE
)


class XmlRejected(Exception):
    """The upload is not well-formed, safe XML; carries the problems to report."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_untrusted(
    data: bytes, *, max_bytes: int, namespaces: tuple[str, ...] = (BPMN_NS,)
) -> etree._ElementTree:
    """Parse uploaded bytes into a tree, refusing oversize input, DOCTYPEs and roots other than
    ``definitions`` in one of ``namespaces`` (BPMN unless told: DMN files pass theirs)."""
    if len(data) > max_bytes:
        raise XmlRejected(
            [Problem(f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.")]
        )
    if not data.strip():
        raise XmlRejected([Problem("The file is empty.")])
    if _DOCTYPE_IN_PROLOGUE.match(data):
        raise XmlRejected([Problem(DOCTYPE_MESSAGE, line=1)])
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        raise XmlRejected(
            [Problem(f"The file is not well-formed XML: {exc.msg}", line=line)]
        ) from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected([Problem(DOCTYPE_MESSAGE, line=1)])
    root = tree.getroot()
    if namespaces != (BPMN_NS,) and etree.QName(root).namespace not in namespaces:
        raise XmlRejected(
            [Problem(f"The root element must be a DMN definitions; found <{root.tag}>.", line=1)]
        )
    if (
        etree.QName(root).namespace not in namespaces
        or etree.QName(root).localname != "definitions"
    ):
        raise XmlRejected(
            [
                Problem(
                    "The root element must be bpmn:definitions in the BPMN 2.0 namespace "
                    f"({BPMN_NS}); found <{root.tag}>.",
                    line=root.sourceline,
                )
            ]
        )
    return tree
