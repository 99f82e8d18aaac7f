"""Page numbers for the deal and lead lists at any size: a count that stops at a cap.

An exact count of a list costs a scan of every row it matches (a second of a million-deal
organisation's deals for an admin), while the page itself is an index walk of 25 rows. So
the lists count at most `cap` + 1 rows (`SELECT COUNT(*) FROM (… LIMIT cap + 1)`): a list
under the cap is counted exactly, a longer one is "10,000+" with the pages up to there.
A page at or past the cap counts the `cap` rows from that page on instead, so Next always
leads on and no row is out of reach; such a page costs its OFFSET, like the page's own
query.
"""

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils.functional import cached_property

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

    def __init__(self, rows: QuerySet, parts: list[Q] | None, *, walkable: set[str]) -> None:
        self.rows, self.parts = rows, parts
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
        parts = [self.rows.filter(part) for part in self.parts or ()]
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
        return start + min(found, self.cap)

    def _window(self, start: int) -> int:
        if start == 0 and self.counted is not None:
            return self.counted
        return capped_count(self.rows, cap=self.cap, start=start)
