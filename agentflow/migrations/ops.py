"""Steps for a first revision that adopts a database ``create_all`` made: only what is missing.

Before migrations, tables and indexes were created where missing each time a store opened. A
first revision written with these steps gives an empty database the whole schema, and a
database made that way the parts it lacks, leaving its tables and rows as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


def create_table(name: str, *elements: sa.Column[Any] | sa.Constraint) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *elements)


def create_index(
    name: str, table: str, columns: Sequence[str], *, unique: bool = False, **kw: Any
) -> None:
    """``op.create_index`` unless ``table`` has an index of that name (``kw``: a ``where``)."""
    if name not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.create_index(name, table, list(columns), unique=unique, **kw)
