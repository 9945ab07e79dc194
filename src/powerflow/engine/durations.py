"""One check of the ISO 8601 durations that time limits, extensions and alert offsets use.

A duration is accepted only when every later computation with it can succeed: it parses, it is
at most ``MAX_DURATION_DAYS`` long (a working-time walk of that many working days stays within
the business calendar's ``MAX_WALK_DAYS``, and no date arithmetic overflows), and in working
time it counts whole days or weeks and hours, minutes and seconds (no months or years, no
"P0.5D", which working days cannot place). The BPMN reader, the alert profiles and the deadline
extensions all call ``duration_problem``, so what deploys or is saved also computes.
"""

from __future__ import annotations

from datetime import timedelta

import isodate

# About ten years; longer limits, offsets or extensions are refused where they are declared.
MAX_DURATION_DAYS = 3660


def duration_length(value: str) -> timedelta:
    """A duration's length (a year counts 366 days and a month 31, the longest they can be).

    Raises ValueError when ``value`` is not an ISO 8601 duration or is too large to compute.
    """
    try:
        parsed = isodate.parse_duration(value.strip())
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 duration") from exc
    if isinstance(parsed, timedelta):
        return parsed
    try:
        months = int(parsed.years) * 12 + int(parsed.months)
        length: timedelta = timedelta(days=31 * months) + parsed.tdelta
        return length
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{value!r} is too long") from exc


def duration_problem(
    value: str, *, working: bool, signed: bool = False, what: str = "Time limit"
) -> str | None:
    """Why ``value`` cannot be used, as a sentence beginning with ``what``; None when it can.

    ``signed`` allows a minus sign and zero (alert offsets: "-P1D" is one day before).
    """
    text = value.strip()
    try:
        length = duration_length(text)
    except ValueError:
        if _looks_iso(text):
            return (
                f"{what} '{text}' is too long: at most {MAX_DURATION_DAYS} days (about ten "
                "years) is allowed."
            )
        return f"{what} '{text}' is not an ISO 8601 duration such as PT4H, P5D or P1M."
    if not signed and (text.startswith("-") or length <= timedelta(0)):
        return f"{what} '{text}' must be longer than zero."
    if abs(length) > timedelta(days=MAX_DURATION_DAYS):
        return (
            f"{what} '{text}' is too long: at most {MAX_DURATION_DAYS} days (about ten years) "
            "is allowed."
        )
    if working:
        date_part = text.lstrip("+-").partition("T")[0]
        if any(unit in date_part for unit in ("Y", "M")):
            return (
                f"{what} '{text}' is in working time, which counts days, hours, minutes and "
                'seconds: write months or years as days (P20D), or use calendar="calendar".'
            )
        days = isodate.parse_duration(date_part) if date_part not in ("P", "") else timedelta(0)
        if isinstance(days, timedelta) and (days.seconds or days.microseconds):
            return (
                f"{what} '{text}' is in working time, which counts whole days: write a part "
                "of a day in hours (PT12H, not P0.5D)."
            )
    return None


def _looks_iso(text: str) -> bool:
    """Whether ``text`` has the shape of a duration (so a parse failure means overflow)."""
    body = text.lstrip("+-")
    return (
        body.startswith("P")
        and len(body) > 1
        and all(c.isdigit() or c in "PYMWDTHS.," for c in body)
        and any(c.isdigit() for c in body)
    )
