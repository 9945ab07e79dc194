"""Prepared statements for the facts rules read on the claim/complete hot path.

Same technique as ``db/queries.py`` (SQL compiled once per dialect, run on the DBAPI cursor,
values decoded by the column types' own processors): a rule's fact costs its SQL, not
SQLAlchemy's per-execution set-up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


class PreparedRows:
    """A prepared SELECT that returns every row, decoded (``decode=False``: as the driver
    returns them, for aggregates whose type needs the driver's own column type to decode)."""

    def __init__(self, statement: Any, *, decode: bool = True) -> None:
        self.statement = statement
        self.decode = decode
        self._compiled: dict[str, Any] = {}

    def _for(self, dialect: Any) -> Any:
        hit = self._compiled.get(dialect.name)
        if hit is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = dict(compiled._bind_processors)  # e.g. aware datetimes to the stored form
            order = list(compiled.positiontup or []) if compiled.positional else None
            processors = [
                col.type.dialect_impl(dialect).result_processor(dialect, None)
                if self.decode
                else None
                for col in self.statement.selected_columns
            ]
            fixed = {k: v for k, v in compiled.params.items() if v is not None}
            hit = (compiled.string, order, processors, fixed, binds)
            self._compiled[dialect.name] = hit
        return hit

    def all(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, decoded."""
        sql, order, processors, fixed, binds = self._for(conn.dialect)
        if fixed:
            params = {**fixed, **params}
        if binds:
            params = {k: (binds[k](v) if k in binds else v) for k, v in params.items()}
        args: Any = tuple(params[k] for k in order) if order is not None else params
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in rows
        ]
