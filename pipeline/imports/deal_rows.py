"""One row of a deals file: its cells read, checked on their own, and names resolved."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from ..choices import StageKind
from ..models import Stage
from ..validators import validate_not_in_future
from .lookups import Lookups
from .results import RowError
from .values import CellError, parse_amount, parse_date, text_cell

COLUMNS = (
    "external_id",
    "name",
    "company",
    "owner",
    "stage",
    "amount",
    "created_at",
    "closed_at",
    "expected_close_date",
    "lead_source",
    "product",
)

REQUIRED = {
    "external_id": "Enter the deal's id in the system it comes from.",
    "name": "Enter the deal's name.",
    "owner": "Enter the owner's username.",
    "stage": "Enter the stage.",
    "created_at": "Enter when the deal was created.",
}


@dataclass(slots=True)
class DealRow:
    """One valid row: owner and stage resolved; company, product and source by name."""

    line: int
    external_id: str
    name: str
    company: str
    owner_id: int
    owner_team_id: int | None
    stage: Stage
    amount: Decimal
    created_at: dt.datetime
    closed_at: dt.datetime | None
    expected_close_date: dt.date | None
    lead_source: str
    product: str
    current: object = None  # the existing deal's values (a values_list row), if any


def parse_row(
    line: int,
    cells: dict[str, str],
    lookups: Lookups,
    *,
    decimal_comma: bool,
    allowed_owner_ids: set[int] | None,
) -> DealRow | list[RowError]:
    """A DealRow, or every error of the row (one per column)."""
    errors: list[RowError] = []
    values: dict[str, object] = {}

    def read(column: str, parse: Callable[[str], object], *, required: bool = False) -> None:
        text = cells[column]
        if not text:
            if required:
                errors.append(RowError(line, column, REQUIRED[column]))
            values[column] = None
            return
        try:
            values[column] = parse(text)
        except CellError as error:
            errors.append(RowError(line, column, str(error)))

    read("external_id", lambda text: text_cell(text, max_length=100), required=True)
    read("name", lambda text: text_cell(text, max_length=200), required=True)
    read("company", lookups.companies.clean)
    read("owner", lookups.owner, required=True)
    read("stage", lookups.stage, required=True)
    read("amount", lambda text: parse_amount(text, decimal_comma=decimal_comma))
    read("created_at", lookups.moments, required=True)
    read("closed_at", lookups.moments)
    read("expected_close_date", parse_date)
    read("lead_source", lookups.sources.clean)
    read("product", lookups.products.clean)

    owner = values.get("owner")
    if owner and allowed_owner_ids is not None and owner[0] not in allowed_owner_ids:
        errors.append(RowError(line, "owner", f"'{cells['owner']}' is not in your teams."))
    stage, created_at, closed_at = (
        values.get("stage"),
        values.get("created_at"),
        values.get("closed_at"),
    )
    if stage and "closed_at" not in {error.column for error in errors}:
        if stage.is_closed and closed_at is None:
            message = f"A {stage.get_kind_display().lower()} deal needs a close date."
            errors.append(RowError(line, "closed_at", message))
        elif not stage.is_closed and closed_at is not None:
            message = "An open deal has no close date; leave closed_at empty or use Won or Lost."
            errors.append(RowError(line, "closed_at", message))
    if values.get("amount") is None and "amount" not in {error.column for error in errors}:
        # CRMs leave the value of an open (or lost) deal blank; a win without one is a gap
        # in the revenue, so it has to say 0 to mean 0.
        values["amount"] = Decimal("0.00")
        if stage and stage.kind == StageKind.WON:
            errors.append(RowError(line, "amount", "A won deal needs an amount (0 is fine)."))
    if closed_at and "closed_at" not in {error.column for error in errors}:
        try:
            validate_not_in_future(closed_at)
        except ValidationError as error:
            errors.append(RowError(line, "closed_at", " ".join(error.messages)))
    if created_at and closed_at and closed_at < created_at:
        if same_day(cells["closed_at"], closed_at, created_at, lookups):
            # "Closed on the day it was created", with no time: not before it.
            closed_at = created_at
        else:
            message = f"A deal cannot close before it was created ({cells['created_at']})."
            errors.append(RowError(line, "closed_at", message))
    if errors:
        return errors
    return DealRow(
        line=line,
        external_id=values["external_id"],
        name=values["name"],
        company=values["company"] or "",
        owner_id=owner[0],
        owner_team_id=owner[1],
        stage=stage,
        amount=values["amount"],
        created_at=created_at,
        closed_at=closed_at,
        expected_close_date=values["expected_close_date"],
        lead_source=values["lead_source"] or "",
        product=values["product"] or "",
    )


def same_day(text: str, closed_at: dt.datetime, created_at: dt.datetime, lookups: Lookups) -> bool:
    """Is closed_at a date alone (midnight), the local day of created_at?"""
    created_day = timezone.localtime(created_at, lookups.moments.zone).date()
    return len(text) <= 10 and closed_at.date() == created_day
