"""DMN decision tables: compiling an upload of either kind, and listing deployed decisions.

A decision table is deployed like a process (a ``.dmn`` file alone or in a bundle) and stored
as a definition of kind ``decision``: versioned by decision id, never started on its own.
Business rule tasks evaluate the latest version when their instance starts, and keep it.
"""

from __future__ import annotations

from collections.abc import Mapping

from powerflow import engine


def compile_upload(
    data: bytes,
    filename: str,
    max_bytes: int,
    decisions: Mapping[str, bytes],
    *,
    purpose: engine.Purpose = "deploy",
    accept_any_data: bool = False,
) -> tuple[str, engine.CompileResult]:
    """Compile one uploaded file as a decision table or a BPMN file (for ``purpose``, see
    engine/purpose.py); (kind, result)."""
    if engine.is_dmn(data, filename):
        return "decision", engine.compile_dmn(data, filename, max_bytes=max_bytes)
    return "process", engine.compile_upload(
        data,
        filename,
        max_bytes=max_bytes,
        purpose=purpose,
        accept_any_data=accept_any_data,
        decisions=decisions,
    )


def needed_decisions(data: bytes, max_bytes: int) -> list[str]:
    """The decisions a BPMN file's business rule tasks evaluate."""
    return engine.decision_refs(data, max_bytes)
