"""Due times from powerflow time limits (ISO 8601 durations in calendar or working days).

Working days here are Monday to Friday; public holidays and make-up working days come with the
business calendar (a later release), so a working-day due time may fall on a holiday today.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import isodate


def due_at(start: datetime, time_limit: dict[str, Any] | None) -> datetime | None:
    """When a step started at ``start`` is due under ``time_limit``, or None without one."""
    if not time_limit:
        return None
    duration = isodate.parse_duration(time_limit["duration"])
    if time_limit.get("calendar") == "working" and isinstance(duration, timedelta):
        return _add_working(start, duration)
    result = start + duration
    return result if isinstance(result, datetime) else None


def _add_working(start: datetime, duration: timedelta) -> datetime:
    days, rest = duration.days, duration - timedelta(days=duration.days)
    current = start
    while current.weekday() >= 5:
        current += timedelta(days=1)
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current + rest
