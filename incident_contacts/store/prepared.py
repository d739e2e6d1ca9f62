"""Statements of the hottest paths, compiled once and run straight on the driver's cursor.

SQLAlchemy's execution path costs about 25 µs a statement, more than SQLite needs for a keyed
lookup. A :class:`Prepared` statement is still written with SQLAlchemy Core (so it has the same
SQL on SQLite and PostgreSQL), compiled once per dialect, and run on the DBAPI cursor of the
caller's connection, inside the caller's transaction. Driver errors come out as SQLAlchemy's
(``IntegrityError``, ``OperationalError``), as from ``Connection.execute``.

Values come back as the driver gives them, with no SQLAlchemy result processing: integers,
floats and text as they are, and a Boolean column as 0 or 1 on SQLite. Callers treat
Booleans by truth value.
"""

from __future__ import annotations

import operator
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.base import Executable


def _row_class(names: tuple[str, ...]) -> Any:
    """A named tuple class for a result's columns (``row.alias``, as SQLAlchemy's rows)."""
    return namedtuple("Row", names, rename=True)


def _missing(exc: KeyError) -> sa.exc.InvalidRequestError:
    return sa.exc.InvalidRequestError(f"A value is required for bind parameter {exc.args[0]!r}")


class Prepared:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {}
        self._row_types: dict[str, Any] = {}
        self._last: tuple[Dialect, str, Callable[[Mapping[str, Any]], Any], Any] | None = None

    def _for(self, dialect: Dialect) -> tuple[str, Callable[[Mapping[str, Any]], Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            names = compiled.positiontup
            parameters: Callable[[Mapping[str, Any]], Any]
            if names is None:
                def parameters(values: Mapping[str, Any]) -> Any:
                    return compiled.construct_params(values)
            else:
                # Positional (SQLite): each place takes the caller's value of a parameter
                # the statement leaves open, or the value the statement itself holds (a
                # literal such as ``status == "PENDING"``), without constructing every
                # parameter again on each run. A missing open value is SQLAlchemy's error.
                own = compiled.construct_params({}, _check=False)
                plan = tuple((name, compiled.binds[name].required, own.get(name))
                             for name in names)

                def parameters(values: Mapping[str, Any]) -> Any:
                    try:
                        return tuple([values[name] if open_ else values.get(name, value)
                                      for name, open_, value in plan])
                    except KeyError as exc:
                        raise _missing(exc) from None

                if names and all(open_ for _name, open_, _value in plan):
                    # Every place takes a caller's value (the usual keyed lookup): one
                    # itemgetter, no loop.
                    get = operator.itemgetter(*names)
                    single = len(names) == 1

                    def parameters(values: Mapping[str, Any]) -> Any:
                        try:
                            got = get(values)
                        except KeyError as exc:
                            raise _missing(exc) from None
                        return (got,) if single else got

            found = (compiled.string, parameters)
            self._compiled[dialect.name] = found
        return found

    def _run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        dialect = conn.dialect
        last = self._last
        if last is not None and last[0] is dialect:
            _dialect, sql, parameters, error = last
        else:
            sql, parameters = self._for(dialect)
            error = dialect.loaded_dbapi.Error
            # The dialect of the last run, looked up no more while it is the same (a process
            # usually has one store).
            self._last = (dialect, sql, parameters, error)
        args = parameters(values)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
        except error as exc:
            cursor.close()
            raise sa.exc.DBAPIError.instance(sql, args, exc, error, dialect=dialect) from exc
        return cursor

    def _row_type(self, dialect: str, cursor: Any) -> Any:
        # A prepared statement's columns never change: the first result names them. (psycopg
        # builds ``description`` anew each time it is read: it is read once.)
        found = self._row_types.get(dialect)
        if found is None:
            found = _row_class(tuple(column[0] for column in cursor.description))
            self._row_types[dialect] = found
        return found

    def first(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The first row as a named tuple (``row.alias``), or None."""
        cursor = self._run(conn, values)
        try:
            row = cursor.fetchone()
            if row is None:
                return None
            return self._row_type(conn.dialect.name, cursor)(*row)
        finally:
            cursor.close()

    def all(self, conn: Connection, values: Mapping[str, Any]) -> list[Any]:
        cursor = self._run(conn, values)
        try:
            rows = cursor.fetchall()
            if not rows:
                return []
            row_type = self._row_type(conn.dialect.name, cursor)
            return [row_type(*row) for row in rows]
        finally:
            cursor.close()

    def scalar(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        cursor = self._run(conn, values)
        try:
            row = cursor.fetchone()
            return None if row is None else row[0]
        finally:
            cursor.close()

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Run a write; the number of rows it touched."""
        cursor = self._run(conn, values)
        try:
            count: int = cursor.rowcount
            return count
        finally:
            cursor.close()

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a write once for each of ``rows`` (the driver's ``executemany``)."""
        if not rows:
            return
        dialect = conn.dialect
        sql, parameters = self._for(dialect)
        args = [parameters(values) for values in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        error = dialect.loaded_dbapi.Error
        try:
            cursor.executemany(sql, args)
        except error as exc:
            raise sa.exc.DBAPIError.instance(sql, args, exc, error, dialect=dialect) from exc
        finally:
            cursor.close()


def insert_of(table: sa.Table, *columns: str, returning_id: bool = False) -> Prepared:
    """``INSERT INTO table (columns) VALUES (:column, ...)``, prepared; with ``returning_id``
    it answers the new row's ``id`` (``RETURNING id``, which SQLite and PostgreSQL both have)
    through :meth:`Prepared.scalar`."""
    statement = table.insert().values({name: sa.bindparam(name) for name in columns})
    if returning_id:
        statement = statement.returning(table.c.id)
    return Prepared(statement)


__all__ = ["Prepared", "insert_of"]
