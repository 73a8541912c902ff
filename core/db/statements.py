"""Reads and writes of whole model rows in SQL written once from the models' metadata.

The ORM builds and compiles a query anew on every call: for a point read
that is ~190 µs of CPU, more than the query's own round trip (#6).
SQLAlchemy caches a statement's compiled form; this is that, for the reads
nearly every request makes (the bearer token and its user, a user by id)
and for a PATCH's UPDATE, which also returns the row it wrote.
The SQL is the ORM's own for these models (its columns, in its order), and
values get the converters the ORM applies, so the instances are those
`.get()` returns.
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from django.db import connections, router
from django.db.models import Model
from django.db.models.expressions import Col

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Columns(Generic[M]):
    """A model's concrete columns for one database, and its rows made into instances."""

    model: type[M]
    alias: str
    table: str  # quoted
    select: str  # '"table"."column", ...', the model's concrete fields in order
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, Col, tuple[Callable[..., Any], ...]], ...]

    def column(self, name: str, *, qualified: bool = True) -> str:
        """The quoted column of the field `name` ("pk" too), table-qualified or not."""
        meta = self.model._meta
        field = meta.pk if name == "pk" else meta.get_field(name)
        column = connections[self.alias].ops.quote_name(getattr(field, "column", ""))
        return f"{self.table}.{column}" if qualified else column

    def instance(self, values: Sequence[Any]) -> M:
        """The instance the ORM would make of these values (a row's slice)."""
        if self.converters:  # none on PostgreSQL for these models: no lookup
            values = list(values)
            connection = connections[self.alias]
            for index, col, converters in self.converters:
                for convert in converters:
                    values[index] = convert(values[index], col, connection)
        return self.model.from_db(self.alias, self.attnames, values)


@functools.cache
def _columns(model: type[Model], alias: str) -> Columns[Any]:
    connection = connections[alias]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(
            connection
        )
        if found:
            converters.append((index, col, tuple(found)))
    return Columns(
        model=model,
        alias=alias,
        table=table,
        select=", ".join(f"{table}.{qn(str(f.column))}" for f in fields),
        attnames=tuple(f.attname for f in fields),
        converters=tuple(converters),
    )


def columns(model: type[M], alias: str) -> Columns[M]:
    """`model`'s columns on the database `alias`, worked out once."""
    return cast(Columns[M], _columns(model, alias))


@functools.cache
def _by_pk_sql(model: type[Model], alias: str) -> str:
    found = _columns(model, alias)
    return f"SELECT {found.select} FROM {found.table} WHERE {found.column('pk')} = %s"


def row_by_pk(model: type[M], pk: Any) -> M | None:
    """`model.objects.get(pk=pk)`, or None, from SQL written once; sync."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(
            _by_pk_sql(model, alias),
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        row = cursor.fetchone()
    return None if row is None else columns(model, alias).instance(row)


@functools.cache
def _update_sql(model: type[Model], alias: str, names: tuple[str, ...]) -> str:
    found = _columns(model, alias)
    sets = ", ".join(f"{found.column(name, qualified=False)} = %s" for name in names)
    return (
        f"UPDATE {found.table} SET {sets} WHERE {found.column('pk')} = %s"
        f" RETURNING {found.select}"
    )


def update_returning(model: type[M], pk: Any, values: Mapping[str, Any]) -> M | None:
    """`filter(pk=pk).update(**values)` and the row it wrote, in one statement; sync.

    The statement is written once per set of fields; values are prepared as
    QuerySet.update() prepares them (Field.get_db_prep_save). None when no
    row has this pk. PostgreSQL and SQLite (3.35+) both have RETURNING.
    """
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    params = [
        meta.get_field(name).get_db_prep_save(value, connection)  # type: ignore[union-attr]
        for name, value in values.items()
    ]
    params.append(meta.pk.get_db_prep_value(pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, alias, tuple(values)), params)
        row = cursor.fetchone()
    return None if row is None else columns(model, alias).instance(row)
