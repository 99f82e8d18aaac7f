"""Page numbers for the deal and lead lists at any size: a count that stops at a cap.

An exact count of a list costs a scan of every row it matches (a second of a million-deal
organisation's deals for an admin), while the page itself is an index walk of 25 rows. So
the lists count at most `cap` + 1 rows (`SELECT COUNT(*) FROM (… LIMIT cap + 1)`): a list
under the cap is counted exactly, a longer one is "10,000+" with the pages up to there.
A page at or past the cap counts the `cap` rows from that page on instead, so Next always
leads on and no row is out of reach; such a page costs its OFFSET, like the page's own
query.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection, connections
from django.db.models import F, Field, ForeignKey, OrderBy, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.functional import cached_property

from accounts.access import within_parts

DEFAULT_COUNT_CAP = 10_000


def count_cap() -> int:
    """How many rows a list counts before it says "N+": the LIST_COUNT_CAP setting."""
    return int(getattr(settings, "LIST_COUNT_CAP", DEFAULT_COUNT_CAP))


def capped_count(rows: QuerySet, *, cap: int, start: int = 0) -> int:
    """How many of `rows` there are from the `start`-th on, counting at most cap + 1. From
    the first row the order does not matter, so the database may count in any order."""
    if start == 0:
        rows = rows.order_by()
    return rows[start : start + cap + 1].count()


def _column(term) -> str | None:
    """The row's own column a sort term orders by ("-amount", F("amount").desc()); None for
    another table's ("company__name") or an expression."""
    if isinstance(term, str):
        name = term.lstrip("-")
    elif isinstance(term, OrderBy) and isinstance(term.expression, F):
        name = getattr(term.expression, "name", "")  # F's name, untyped in django-stubs
    else:
        return None
    return None if "__" in name else name


class MergedWalks:
    """A sorted list's rows read as one walk per part (accounts.access.visible_parts):
    `UNION ALL` of each part's first rows in the list's order, each an index walk that
    leads with the team (pipeline.indexes), merged by PostgreSQL (Merge Append), then the
    page's rows by primary key. A manager's deals are `owner IN … OR team IN …`, which no
    index holds in a sort's order: PostgreSQL walked the organisation's sort index and
    skipped the other teams' rows, 1.9 s for a small-deal team sorted by -amount at 1M
    deals (docs/performance.md). Used only where every sort term is one of `walkable`
    and the database orders inside a UNION (PostgreSQL; SQLite reads the rows as they are).
    """

    ordered = True

    def __init__(
        self, rows: QuerySet, parts: list[Q] | None, *, walkable: set[str], user=None
    ) -> None:
        self.rows, self.parts, self.user = rows, parts, user
        order = list(rows.query.order_by)
        columns = [_column(term) for term in order]
        self.columns = [c for c in columns if c is not None and c != "pk"]
        self.merges = (
            bool(parts)
            and not rows.query.is_empty()  # a filter that matches nothing (`none()`)
            and connection.features.supports_slicing_ordering_in_compound
            and all(c is not None for c in columns)
            and all(c in walkable for c in self.columns)
            and columns[-1:] == ["pk"]  # the tie-breaker: every page in one order
        )

    def __getitem__(self, key):
        if not self.merges or not isinstance(key, slice) or key.stop is None:
            return self.rows[key]
        if key.stop <= (key.start or 0):
            return []  # the paginator's empty page, [0:0]
        # A filter may leave some parts nothing to match (Django then drops them from a
        # UNION, and a UNION of one is that part's query).
        base = within_parts(self.rows, self.user) if self.user is not None else self.rows
        parts = [base.filter(part) for part in self.parts or ()]
        parts = [rows for rows in parts if not rows.query.is_empty()]
        if len(parts) <= 1:  # one team, nobody's deals elsewhere: its walk alone
            return parts[0][key] if parts else []
        walks = [rows.values_list("pk", *self.columns)[: key.stop] for rows in parts]
        merged = walks[0].union(*walks[1:], all=True).order_by(*self.rows.query.order_by)[key]
        ids = [row[0] for row in merged]
        found = self.rows.order_by().in_bulk(ids)
        return [found[pk] for pk in ids if pk in found]


class CappedPaginator(Paginator):
    """A Paginator whose count stops at `cap` rows past the start of the requested page's
    window (`capped` then tells that there are more). `counted`: the count of the first
    cap + 1 rows when the caller has it already (the deal list's totals)."""

    def __init__(self, object_list: QuerySet, per_page: int, *, cap: int, counted=None):
        super().__init__(object_list, per_page)
        # The rows to count: a QuerySet (Paginator types its list more loosely), the one
        # behind MergedWalks when the page is read by walks.
        self.rows = getattr(object_list, "rows", object_list)
        # More than a page, so a capped count always leaves a next page to go to.
        self.cap, self.counted = max(cap, int(per_page) + 1), counted
        self.capped = False
        self.requested = 1

    def get_page(self, number) -> Page:
        try:
            self.requested = max(1, int(number))
        except (TypeError, ValueError):
            self.requested = 1
        return super().get_page(number)

    @cached_property
    def count(self) -> int:
        offset = (self.requested - 1) * self.per_page
        # A page that reaches the end of the first window counts a window of its own, so
        # it has a next page when there are more rows.
        start = offset if offset + self.per_page >= self.cap else 0
        if self.counted is not None and self.counted <= self.cap:
            start = 0  # the whole list is counted already
        found = self._window(start)
        if start and not found:
            # Past the last row: the pages up to the cap, as for page 1 (then the last one).
            start, found = 0, self._window(0)
        self.capped = found > self.cap
        if isinstance(self.object_list, JoinedWalks):
            self.object_list.size = start + min(found, self.cap)  # at least that many
        return start + min(found, self.cap)

    def _window(self, start: int) -> int:
        if start == 0 and self.counted is not None:
            return self.counted
        return capped_count(self.rows, cap=self.cap, start=start)


# A list shorter than this is sorted as it is: its rows are few, and a walk group by group
# may read every group to find them (a search that matches 200 of 1M deals).
JOINED_WALK_MIN_ROWS = 1_000
# More ids than this in a manager's part listed by id (their people's rows counted for a
# team outside the tree), and the list is sorted as it is: a walk probes that part once
# per group (per company, per owner), each probe one look-up per id.
JOINED_WALK_MAX_LISTED = 50


@dataclass(frozen=True)
class JoinedSort:
    """A sort by another table's columns through one foreign key (`stage__order`, the
    owner's three name columns), then the id descending: the row's foreign key, and the
    other table's columns with their direction (True: descending)."""

    key: ForeignKey
    columns: tuple[tuple[str, bool], ...]


def joined_sort(rows: QuerySet) -> JoinedSort | None:
    """The joined sort `rows` are in, or None for any other order."""
    order = [term for term in rows.query.order_by if isinstance(term, OrderBy)]
    if len(order) < 2 or len(order) != len(rows.query.order_by):
        return None
    last = order[-1]
    if not (_column(last) == "pk" and last.descending):
        return None
    keys: set[ForeignKey] = set()
    columns: list[tuple[str, bool]] = []
    for term in order[:-1]:
        name = getattr(term.expression, "name", "") if isinstance(term.expression, F) else ""
        head, _, tail = name.partition("__")
        if not tail or "__" in tail:
            return None
        field = rows.model._meta.get_field(head)
        if not isinstance(field, ForeignKey):
            return None
        column = field.related_model._meta.get_field(tail)
        # Empty keys last, as the plain order puts them (a key column that may be empty
        # would need its NULLs placed inside the groups' order too).
        if not isinstance(column, Field) or column.null or (field.null and not term.nulls_last):
            return None
        keys.add(field)
        columns.append((column.column or column.name, term.descending))
    if len(keys) != 1:
        return None
    return JoinedSort(key=keys.pop(), columns=tuple(columns))


def _listed_ids(part: Q) -> int:
    """How many ids a part lists (`Q(pk__in=[…])`), 0 for a part by team."""
    if len(part.children) == 1 and isinstance(part.children[0], tuple):
        lookup, value = part.children[0]
        if lookup == "pk__in":
            return len(value)
    return 0


class JoinedWalks:
    """A list sorted by another table's column read group by group, in that order: for
    each company by name (each stage by order, each owner by name) the group's rows, id
    descending, each a walk of an index leading with the foreign key (pipeline.indexes.
    group_indexes), or for a manager a merge of one walk per part (accounts.access.
    visible_parts). In SQL: the other table in the sort's order (its index, or its few
    rows sorted), a LATERAL walk per row, and an incremental sort that only orders the id
    within a group (several stages may share an order), stopping at the page's end. Rows
    whose key is empty follow, id descending, as in the plain order. No index on the row
    can hold another table's order: the plain query sorted every visible row (2 s for the
    admin's deals at 1M).

    Used on PostgreSQL (SQLite has no LATERAL) for lists of at least JOINED_WALK_MIN_ROWS
    rows (`size`, set by CappedPaginator); otherwise, and for any other sort, the page is
    `fallback`'s (the plain rows, or MergedWalks).
    """

    ordered = True

    def __init__(self, rows: QuerySet, parts, *, fallback=None, user=None, keys=None) -> None:
        self.rows, self._parts, self.user = rows, parts, user
        self.fallback = rows if fallback is None else fallback
        sort = joined_sort(rows)
        # `keys`: the foreign keys whose sorts are walked (None: every one).
        self.sort = sort if sort is None or keys is None or sort.key.name in keys else None
        self.size: int | None = None  # how many rows the list has at least

    @cached_property
    def parts(self) -> list[Q] | None:
        return self._parts() if callable(self._parts) else self._parts

    @property
    def walks(self) -> bool:
        return (
            self.sort is not None
            and connections[self.rows.db].vendor == "postgresql"
            and not self.rows.query.is_empty()
            and not self.rows.query.distinct
            and (self.size or 0) >= JOINED_WALK_MIN_ROWS
            and all(_listed_ids(part) <= JOINED_WALK_MAX_LISTED for part in self.parts or ())
        )

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.stop is None or not self.walks:
            return self.fallback[key]
        start, stop = key.start or 0, key.stop
        if stop <= start:
            return []
        assert self.sort is not None  # self.walks
        ids = self._walk(self.sort, start, stop)
        tail = []
        if self.sort.key.null and len(ids) < stop - start:
            # The rows with no key, after every group: from the first of them on.
            keyed = self.rows.exclude(**{f"{self.sort.key.name}__isnull": True})
            before = start + len(ids) if ids else keyed.order_by()[:start].count()
            empty = self.rows.filter(**{f"{self.sort.key.name}__isnull": True})
            walk = MergedWalks(
                empty.order_by(F("pk").desc()), self.parts, walkable=set(), user=self.user
            )
            tail = list(walk[max(0, start - before) : stop - before])
        found = self.rows.order_by().in_bulk(ids)
        return [found[pk] for pk in ids if pk in found] + tail

    def _walk(self, sort: JoinedSort, start: int, stop: int) -> list[int]:
        connection = connections[self.rows.db]
        quote = connection.ops.quote_name
        related = sort.key.related_model._meta
        keys = ", ".join(f"{quote(column)} AS k{n}" for n, (column, _) in enumerate(sort.columns))
        pk = (related.pk.column if related.pk is not None else None) or "id"
        groups = f"SELECT {quote(pk)} AS fk, {keys} FROM {quote(related.db_table)}"
        order = ", ".join(
            f"g.k{n} {'DESC' if descending else 'ASC'}"
            for n, (_, descending) in enumerate(sort.columns)
        )
        if not self._indexed(sort):
            # A few rows (stages, sources, people): sorted first, and kept in that order
            # (OFFSET 0 keeps PostgreSQL from flattening the subquery and its order away).
            groups += f" ORDER BY {order.replace('g.', '')} OFFSET 0"
        base = within_parts(self.rows, self.user) if self.user is not None else self.rows
        parts = [self.rows] if not self.parts else [base.filter(p) for p in self.parts]
        walks: list[str] = []
        params: list[Any] = []
        for rows in parts:
            if rows.query.is_empty():
                continue
            group = rows.filter(**{sort.key.attname: RawSQL("g.fk", ())})
            sql, walk_params = (
                group.order_by("-pk").values_list("pk")[:stop].query.sql_with_params()
            )
            walks.append(f"({sql})")
            params += walk_params
        if not walks:
            return []
        inner = walks[0]
        if len(walks) > 1:
            inner = (
                f"SELECT u.id FROM ({' UNION ALL '.join(walks)}) u(id) ORDER BY u.id DESC LIMIT %s"
            )
            params.append(stop)
        sql = (
            f"SELECT w.id FROM ({groups}) g CROSS JOIN LATERAL ({inner}) w(id) "
            f"ORDER BY {order}, w.id DESC LIMIT %s OFFSET %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, stop - start, start])
            return [row[0] for row in cursor.fetchall()]

    @staticmethod
    def _indexed(sort: JoinedSort) -> bool:
        """Does an index of the other table hold the sort's order (the company's unique
        name): then PostgreSQL walks it instead of reading every row first."""
        if len(sort.columns) != 1:
            return False
        column = sort.columns[0][0]
        fields = [f for f in sort.key.related_model._meta.concrete_fields if f.column == column]
        return bool(fields) and bool(fields[0].unique or getattr(fields[0], "db_index", False))
