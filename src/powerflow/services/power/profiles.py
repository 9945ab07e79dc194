"""Alert profiles: which thresholds (level, watched limit, offset) raise alerts on a case.

A process names its profile with ``pf:alertProfile`` (default ``two-tier``). Profiles live in the
``alert_profiles`` table (seeded by migration 0009) and change rarely, so each worker keeps them
for a few seconds (``CACHE_SECONDS``): an edit reaches every worker within that time, and at once
in the worker that made it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import isodate
from sqlalchemy import Connection, Table, select

from powerflow.db.engine import Store
from powerflow.db.models import AlertProfile
from powerflow.engine.durations import duration_problem
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.power.alerts import ALERT_LEVELS

DEFAULT_PROFILE = "two-tier"
LIMIT_KINDS = ("promised", "statutory", "step")
RULE_EFFECTS = ("warn", "block")
CACHE_SECONDS = 5.0
MAX_THRESHOLDS = 20
_TABLE = cast(Table, AlertProfile.__table__)


@dataclass(frozen=True)
class Threshold:
    """Raise ``level`` when the ``limit``'s due time plus ``offset`` has passed."""

    level: str
    limit: str
    offset: str  # ISO 8601 duration, may be negative ("-P1D": one day before)

    @property
    def at_deadline(self) -> bool:
        """Whether the offset is zero (no calendar arithmetic needed)."""
        return not isodate.parse_duration(self.offset)

    @property
    def before(self) -> bool:
        """Whether the threshold comes before the deadline (a prompt of what is coming)."""
        return self.offset.startswith("-")


@dataclass(frozen=True)
class Profile:
    """A named set of thresholds and the alert levels of rule effects."""

    name: str
    description: str
    thresholds: tuple[Threshold, ...]
    rule_levels: dict[str, str]

    def for_limit(self, limit: str) -> list[Threshold]:
        """The thresholds that watch one kind of limit."""
        return [t for t in self.thresholds if t.limit == limit]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API."""
        return {
            "name": self.name,
            "description": self.description,
            "thresholds": [
                {"level": t.level, "limit": t.limit, "offset": t.offset} for t in self.thresholds
            ],
            "rule_levels": dict(self.rule_levels),
        }


_cache: dict[str, tuple[float, dict[str, Profile]]] = {}
_lock = threading.Lock()


def _from_row(row: Any) -> Profile:
    return Profile(
        name=row.name,
        description=row.description,
        thresholds=tuple(Threshold(t["level"], t["limit"], t["offset"]) for t in row.thresholds),
        rule_levels=dict(row.rule_levels),
    )


def _all(conn: Connection) -> dict[str, Profile]:
    key = str(conn.engine.url)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    profiles = {r.name: _from_row(r) for r in conn.execute(select(_TABLE))}
    with _lock:
        _cache[key] = (now, profiles)
    return profiles


def forget_cached() -> None:
    """Drop the cached profiles (after an edit, and in tests)."""
    with _lock:
        _cache.clear()


def profile_for(conn: Connection, name: str | None) -> Profile:
    """The named profile, or the default one when the name is unknown (never fails)."""
    profiles = _all(conn)
    found = profiles.get(name or DEFAULT_PROFILE) or profiles.get(DEFAULT_PROFILE)
    return found or Profile(DEFAULT_PROFILE, "", (), {})


def list_profiles(store: Store) -> list[dict[str, Any]]:
    """Every profile, by name."""
    with store.begin(write=False) as conn:
        return [p.as_dict() for _, p in sorted(_all(conn).items())]


def _check(body: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, str]]:
    thresholds = body.get("thresholds") or []
    if len(thresholds) > MAX_THRESHOLDS:
        raise InvalidInput(f"A profile has at most {MAX_THRESHOLDS} thresholds.")
    checked = []
    for i, t in enumerate(thresholds, 1):
        if t.get("level") not in ALERT_LEVELS:
            raise InvalidInput(f"Threshold {i}: level must be one of {', '.join(ALERT_LEVELS)}.")
        if t.get("limit") not in LIMIT_KINDS:
            raise InvalidInput(f"Threshold {i}: limit must be one of {', '.join(LIMIT_KINDS)}.")
        offset = str(t.get("offset") or "PT0S").strip()
        # Offsets apply to working limits too, so they are checked as working durations: days,
        # hours, minutes and seconds, no months or years, at most about ten years either way.
        problem = duration_problem(offset, working=True, signed=True, what=f"Threshold {i}: offset")
        if problem is not None:
            raise InvalidInput(problem)
        checked.append({"level": t["level"], "limit": t["limit"], "offset": offset})
    levels = body.get("rule_levels") or {}
    for effect, level in levels.items():
        if effect not in RULE_EFFECTS or level not in ALERT_LEVELS:
            raise InvalidInput(
                "rule_levels maps warn and block to an alert level (prompt, yellow or red)."
            )
    return checked, dict(levels)


def put_profile(
    store: Store, principal: Principal, name: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create or replace a profile (administrators); the profile and whether it is new."""
    if not principal.is_admin:
        raise Forbidden("Editing alert profiles needs the 'admin' role.")
    thresholds, levels = _check(body)
    description = str(body.get("description") or "")
    values: dict[str, Any] = {
        "description": description,
        "thresholds": thresholds,
        "rule_levels": levels,
        "updated_by": principal.name,
        "updated_at": store.now(),
    }
    with store.begin(write=True) as conn:
        exists = conn.execute(select(_TABLE.c.name).where(_TABLE.c.name == name)).first()
        if exists:
            conn.execute(_TABLE.update().where(_TABLE.c.name == name).values(**values))
        else:
            conn.execute(_TABLE.insert().values(name=name, **values))
    forget_cached()
    profile = Profile(name, description, tuple(Threshold(**t) for t in thresholds), levels)
    return profile.as_dict(), not exists


def get_profile(store: Store, name: str) -> dict[str, Any]:
    """One profile; NotFound with its name otherwise."""
    with store.begin(write=False) as conn:
        found = _all(conn).get(name)
    if found is None:
        raise NotFound(f"There is no alert profile named '{name}'.")
    return found.as_dict()
