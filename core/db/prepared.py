"""Prepared reads: querysets compiled to SQL once per process, run as server-side prepared statements.

Why this is hand-made. The busiest API reads (the request list, matching's inputs, the engagement detail)
are small queries whose Django compilation costs several times what running them does: measured with
`python -m bench.api_load` on PostgreSQL, plain querysets with declared serializers leave the request list
well below half the throughput of a no-op endpoint, and these reads are what keeps it above (the README's
benchmark table). Django has no way to keep a compiled queryset and run it again with new values, and its
own PostgreSQL `server_side_binding` option binds on the server without preparing, so each run is still
parsed and planned. So a PreparedQuery keeps the queryset as the one definition of its query, compiles it
once (named `Param`s become placeholders), runs it through a cursor that prepares the statement on the
connection, converts its rows as the queryset's own values() would, and returns them as attribute rows the
serializers read like models. RowList and RowPagination page such rows in one query (the count rides on
each row); ListOf and count_subquery fold a relation's items or count into a column of the outer query.
Everything else in the project reads through the ORM as usual.
"""

import sys
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Expression, Func, IntegerField, JSONField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework.pagination import PageNumberPagination

from core.errors import NotFoundError


class Param(Expression):
    """A named parameter of a PreparedQuery: a placeholder in its SQL, given a value on each run."""

    def __init__(self, name: str, output_field=None):
        super().__init__(output_field=output_field or IntegerField())
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", [self]


class Row(SimpleNamespace):
    """A result row whose columns read as attributes, the way the output serializers read models."""

    @property
    def pk(self):
        return self.id


def row_of(pairs) -> Row:
    row = Row()
    row.__dict__.update(pairs)
    return row


class PreparedQuery:
    """A `values()` queryset compiled to SQL once per process, then run with new parameters (Param).

    Django compiles a queryset afresh each time it runs it; for the small reads behind the busiest
    endpoints that costs several times what running them does. The queryset stays the one definition of
    the query, and its rows come back converted as its own values() would convert them. The columns of a
    relation (`client__username`) come as a Row of their own (`row.client.username`), None when its `id`
    is; for the relations named in `users`, with the user's display_name made as User.display_name
    makes it (the full name, or the username)."""

    def __init__(self, build: Callable[[], QuerySet], *, users: tuple[str, ...] = ()):
        self.build, self.users = build, users
        self.compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        query = self.build().query
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
        columns, relations = ([], []), {}
        for position, name in enumerate(names):
            relation, _, column = name.partition("__")
            if column:
                nested = relations.setdefault(relation, ([], []))
            else:
                nested, column = columns, name
            nested[0].append(column)
            nested[1].append(position)
        return sql, params, converters, columns, list(relations.items())

    def rows(self, *, limit: int | None = None, offset: int = 0, **values) -> list[Row]:
        alias = "default"  # The one database; a router would have to choose here.
        if alias not in self.compiled:
            self.compiled[alias] = self._compile(alias)
        sql, params, converters, (names, positions), relations = self.compiled[alias]
        args = [values[param.name] if isinstance(param, Param) else param for param in params]
        if limit is not None:
            # Numbers in the text, not parameters: PostgreSQL plans a prepared statement once only when
            # its generic plan is as good as one made for the values, and an unknown LIMIT never is.
            sql = f"{sql} LIMIT {int(limit)} OFFSET {int(offset)}"
        connection = connections[alias]
        with cursor_for(connection) as cursor:
            cursor.execute(sql, args)
            fetched = cursor.fetchall()
        rows = []
        for found in fetched:
            if converters:
                found = list(found)
                for position, (functions, expression) in converters.items():
                    for function in functions:
                        found[position] = function(found[position], expression, connection)
            row = row_of(zip(names, map(found.__getitem__, positions), strict=True))
            for relation, (related_names, related_positions) in relations:
                related = row_of(zip(related_names, map(found.__getitem__, related_positions), strict=True))
                if related.id is None:
                    related = None
                elif relation in self.users:
                    related.display_name = (
                        f"{related.first_name} {related.last_name}".strip() or related.username
                    )
                setattr(row, relation, related)
            rows.append(row)
        return rows


def cursor_for(connection):
    """A cursor through Django's wrappers (query logging, execute wrappers). On PostgreSQL it binds
    parameters on the server and prepares each statement, so that PostgreSQL parses and plans the few
    statements of a PreparedQuery once per connection instead of on every run. (Django's own cursors
    bind on the client and prepare nothing: prepared statements do not survive a connection pooler in
    transaction mode, such as PgBouncer before 1.21. Other queries stay as they were: the threshold set
    here keeps psycopg from preparing any statement it is not told to.)"""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if connection.connection.prepare_threshold is None:
        connection.connection.prepare_threshold = sys.maxsize
    cursor = _preparing_cursor_class()(connection.connection)
    return (
        connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
    )


@cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg.types.datetime import TimestamptzLoader

    class PreparingCursor(ServerBindingCursor):
        def __init__(self, connection, **options):
            super().__init__(connection, **options)
            # psycopg's own loader, which runs in C (Django's subclass of it does not): times come in the
            # session's time zone, which Django sets to UTC, and are rendered in the current one anyway.
            self.adapters.register_loader("timestamptz", TimestamptzLoader)

        def execute(self, query, params=None, **options):
            return super().execute(query, params, prepare=True, **options)

    return PreparingCursor


class RowList:
    """What a paginator pages through: the rows of a prepared query, counted and sliced in the database.

    Each row carries the count of them all (`total`, computed once per query), so that a paginator that
    fetches its page first (api.views.base.RowPagination) needs no query of its own to count them."""

    def __init__(self, rows: PreparedQuery, count: PreparedQuery, **values):
        self._rows, self._count, self._values = rows, count, values
        self._total, self._fetched = None, None

    def fetch(self, offset: int, limit: int) -> None:
        rows = self._rows.rows(limit=limit, offset=offset, **self._values)
        self._fetched = (offset, rows)
        if rows:
            self._total = rows[0].total

    def count(self) -> int:
        if self._total is None:
            self._total = self._count.rows(**self._values)[0].count
        return self._total

    def __getitem__(self, index: slice) -> list[Row]:
        if self._fetched is not None:
            offset, rows = self._fetched
            if index.start == offset and index.stop - index.start <= len(rows):
                return rows[: index.stop - index.start]
        return self._rows.rows(limit=index.stop - index.start, offset=index.start, **self._values)


def one(query: PreparedQuery, label: str, **values) -> Row:
    rows = query.rows(**values)
    if not rows:
        raise NotFoundError(f"{label} not found.")
    return rows[0]


def count_of(queryset: QuerySet) -> QuerySet:
    return queryset.order_by().values(count=Func(template="COUNT(*)", output_field=IntegerField()))


def count_subquery(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of `queryset` as a correlated subquery: computed for the rows a page shows, after LIMIT,
    and left out of the paginator's COUNT(*), unlike a JOIN with GROUP BY over every visible row."""
    counted = queryset.order_by().annotate(count=Func(Value(1), function="COUNT")).values("count")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class _ListField(JSONField):
    """A list: a JSON array from SQLite, an array that psycopg has made a list already from PostgreSQL."""

    def from_db_value(self, value, expression, connection):
        return value if isinstance(value, list) else super().from_db_value(value, expression, connection)


class ListOf(Subquery):
    """The one column (`item`) of a subquery's rows, in its order, as a list: a column of the outer query
    in place of a query of its own (and of the related manager Django builds for each row it prefetches
    into). Items made with JSONObject come as dicts: say `objects=True`."""

    output_field = _ListField()

    def __init__(self, queryset, *, objects: bool = False):
        super().__init__(queryset)
        self.objects = objects

    def as_sqlite(self, compiler, connection, **extra):
        if self.objects:  # JSON made in a subquery comes out of it as text: json() reads it again.
            template = "(SELECT json_group_array(json(item)) FROM (%(subquery)s))"
        else:
            template = "(SELECT json_group_array(item) FROM (%(subquery)s))"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "to_jsonb(ARRAY(%(subquery)s))" if self.objects else "ARRAY(%(subquery)s)"
        return self.as_sql(compiler, connection, template=template, **extra)


class _RowPaginator(Paginator):
    """Fetches the page first, with the count that comes on its rows, then pages as Django does."""

    def page(self, number):
        try:
            offset = (int(number) - 1) * self.per_page
        except (TypeError, ValueError):
            offset = -1  # Not a page number: Django's own checks below say so.
        if offset >= 0:
            self.object_list.fetch(offset, self.per_page)
        return super().page(number)


class RowPagination(PageNumberPagination):
    """Page-number pagination of a RowList in one query per page (the count comes with it)."""

    django_paginator_class = _RowPaginator
