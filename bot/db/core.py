"""Typed access to what SQLModel's and SQLAlchemy's annotations hide: a model's Core table, and
how many rows an INSERT, UPDATE or DELETE touched."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Result, Table, inspect
from sqlalchemy.engine import CursorResult
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """The model's table, for a Core statement (`Model.__table__` is not declared to type checkers)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


def rowcount(result: Result[Any]) -> int:
    """The rows a DML statement matched: `session.execute` returns a `CursorResult` for one, typed as `Result`."""
    return cast(CursorResult[Any], result).rowcount
