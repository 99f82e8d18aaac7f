"""CSV exports of deals and people, in exactly the columns `import_csv` reads back.

An export is streamed row by row from one query (the queryset's iterator), so a million
deals cost memory for a chunk, not for the file. Callers pass a queryset they have already
scoped to the user (accounts.access.restrict): an export never shows more than the page it
came from. Every cell goes through pipeline.csv_cells.neutralise on the way out (no formula
runs when the file is opened in a spreadsheet); the import restores it.
"""

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from accounts.choices import Role

from .csv_cells import neutralise
from .imports.deal_rows import COLUMNS as DEAL_IMPORT_COLUMNS
from .imports.reps import COLUMNS as REP_IMPORT_COLUMNS
from .models import Deal

# Exactly the columns import_csv reads, so an export imports back unchanged.
DEAL_COLUMNS = list(DEAL_IMPORT_COLUMNS)
REP_COLUMNS = list(REP_IMPORT_COLUMNS)
EXPORTED_ROLES = (Role.REP, Role.MANAGER)
CHUNK_SIZE = 2000


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a stream."""

    def write(self, value: str) -> str:
        return value


def _moment(value) -> str:
    """An ISO 8601 date-time in the project's time zone, with its offset: unambiguous."""
    return timezone.localtime(value).isoformat() if value else ""


def deal_external_id(deal: Deal) -> str:
    """The id a deal travels under: its own external id, or salesperf-<pk> for deals made
    here, so that a file imported elsewhere and re-imported stays idempotent."""
    return deal.external_id or f"salesperf-{deal.pk}"


def deals_for_export(deals: QuerySet[Deal]) -> QuerySet[Deal]:
    return deals.select_related("company", "owner", "stage", "product", "lead__source").order_by(
        "pk"
    )


def deal_row(deal: Deal) -> list[Any]:
    source = deal.lead.source if deal.lead_id and deal.lead.source_id else None
    return [
        deal_external_id(deal),
        deal.name,
        deal.company.name if deal.company_id else "",
        deal.owner.username,
        deal.stage.name,
        f"{deal.amount:.2f}",
        _moment(deal.created_at),
        _moment(deal.closed_at),
        deal.expected_close_date.isoformat() if deal.expected_close_date else "",
        source.name if source else "",
        deal.product.name if deal.product_id else "",
    ]


def people_for_export(users: QuerySet) -> QuerySet:
    """Reps and managers (admins are not part of the file format), team by team."""
    return (
        users.filter(role__in=EXPORTED_ROLES)
        .select_related("team__parent")
        .order_by("team__name", "-role", "username")
    )


def rep_row(user) -> list[str]:
    team = user.team
    return [
        user.username,
        user.get_full_name(),
        user.email,
        user.role,
        team.name if team else "",
        team.parent.name if team and team.parent_id else "",
    ]


def csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    """The CSV text, one line at a time (RFC 4180 quoting, CRLF line ends), each cell
    neutralised: every CSV the product writes goes through here."""
    writer = csv.writer(_Echo())
    yield writer.writerow([neutralise(name) for name in header])
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def deal_csv_lines(deals: QuerySet[Deal]) -> Iterator[str]:
    rows = deals_for_export(deals).iterator(chunk_size=CHUNK_SIZE)
    return csv_lines(DEAL_COLUMNS, (deal_row(deal) for deal in rows))


def rep_csv_lines(users: QuerySet) -> Iterator[str]:
    rows = people_for_export(users).iterator(chunk_size=CHUNK_SIZE)
    return csv_lines(REP_COLUMNS, (rep_row(user) for user in rows))
