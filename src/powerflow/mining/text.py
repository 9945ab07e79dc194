"""Small text helpers shared by the writers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Characters XML 1.0 cannot carry at all (a BPMN name could hold one): replaced, not dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


def xml_attr(value: str) -> str:
    """``value`` as the content of a double-quoted XML attribute."""
    return _NOT_XML.sub("\ufffd", value).translate(_ATTR_ESCAPES)


def iso_time(moment: datetime) -> str:
    """An aware time in UTC as ISO 8601 with milliseconds, e.g. 2026-05-01T08:00:00.000+00:00
    (an xs:dateTime, and what OpenXES and PM4Py write)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class ChunkBuffer:
    """Collects text and hands it out as UTF-8 chunks of at least ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[str] = []
        self._length = 0

    def add(self, text: str) -> None:
        """Append ``text``."""
        self._parts.append(text)
        self._length += len(text)

    @property
    def full(self) -> bool:
        """Whether enough has gathered to hand out a chunk."""
        return self._length >= self.size

    def flush(self) -> bytes:
        """Everything gathered so far (possibly empty), as one chunk."""
        chunk = "".join(self._parts).encode()
        self._parts.clear()
        self._length = 0
        return chunk
