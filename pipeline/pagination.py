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
from django.db.models import QuerySet
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


class CappedPaginator(Paginator):
    """A Paginator whose count stops at `cap` rows past the start of the requested page's
    window (`capped` then tells that there are more). `counted`: the count of the first
    cap + 1 rows when the caller has it already (the deal list's totals)."""

    def __init__(self, object_list: QuerySet, per_page: int, *, cap: int, counted=None):
        super().__init__(object_list, per_page)
        self.rows = object_list  # a QuerySet (Paginator types its list more loosely)
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
