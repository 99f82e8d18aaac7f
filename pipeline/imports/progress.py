"""Progress of an import for a bar or a job row, as (done, total) with total = the rows.

Every row is first checked, then written (or found unchanged, or skipped as bad); a row
counts half once checked and whole once written, so `done` only grows and the bar is
half-way when the check ends.
"""

from collections.abc import Callable

EVERY = 1000


class Progress:
    def __init__(self, callback: Callable[[int, int], None] | None, rows: int) -> None:
        self.callback = callback
        self.rows = rows
        self.written = 0

    def advance(self, checked: int) -> None:
        """`checked` rows read and checked so far; reported every EVERY rows."""
        if checked % EVERY == 0:
            self._report(checked, 0)

    def start_writing(self, *, done: int) -> None:
        """Every row is checked; `done` rows need no write (bad or unchanged)."""
        self.written = done
        self._report(self.rows, self.written)

    def advance_writing(self, count: int) -> None:
        self.written += count
        self._report(self.rows, self.written)

    def finish(self) -> None:
        self._report(self.rows, self.rows)

    def _report(self, checked: int, written: int) -> None:
        if self.callback:
            self.callback((checked + min(written, self.rows)) // 2, self.rows)
