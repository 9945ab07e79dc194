"""C2SP tlog-checkpoint bodies: the origin line, the tree size, the base64 root hash."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from powerflow.audit_log.note import NoteError


@dataclass(frozen=True)
class Checkpoint:
    """A log's claim: its tree of ``size`` leaves has root ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text (c2sp.org/tlog-checkpoint)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))


def parse_body(text: str) -> Checkpoint:
    """Read a checkpoint's note text; NoteError if it is not one."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint is an origin line, a tree size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("the checkpoint's origin line is empty")
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise NoteError("the checkpoint's tree size is not a decimal number")
    try:
        raw = base64.b64decode(root, validate=True)
    except binascii.Error as exc:
        raise NoteError("the checkpoint's root hash is not base64") from exc
    if len(raw) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, int(size), raw, tuple(lines[3:-1]))
