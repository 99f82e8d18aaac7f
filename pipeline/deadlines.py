"""When an open deal is overdue: one rule for the board, the deal list and the dashboards."""

import datetime as dt
from typing import Any

from django.utils import dateformat, timezone

from .choices import StageKind


def organisation_today(now: dt.datetime | None = None) -> dt.date:
    """Today in the organisation's TIME_ZONE, whoever looks: a deal is due on the
    organisation's calendar day, so a rep abroad sees the same overdue deals."""
    return timezone.localdate(now, timezone=timezone.get_default_timezone())


def is_overdue(*, expected_close_date: dt.date | None, stage_kind: str, today: dt.date) -> bool:
    """An open deal whose expected close is before `today`; a closed deal never is, nor
    one without an expected close."""
    return (
        stage_kind == StageKind.OPEN
        and expected_close_date is not None
        and expected_close_date < today
    )


def deal_is_overdue(deal: Any, *, today: dt.date | None = None) -> bool:
    """is_overdue for a deal (its stage loaded with it), today by default."""
    return is_overdue(
        expected_close_date=deal.expected_close_date,
        stage_kind=deal.stage.kind,
        today=organisation_today() if today is None else today,
    )


def past_close_warning(
    *, expected_close_date: dt.date | None, stage_kind: str, today: dt.date | None = None
) -> str:
    """What to tell someone who just set an open deal's expected close to a past day ("" if
    nothing): a warning, not a refusal, since a rep records imported and back-dated deals
    as they were."""
    today = organisation_today() if today is None else today
    if not is_overdue(expected_close_date=expected_close_date, stage_kind=stage_kind, today=today):
        return ""
    assert expected_close_date is not None
    day = dateformat.format(expected_close_date, "j M Y")
    return (
        f"Expected close {day} is in the past: the deal shows as overdue until you move "
        "the date or close it."
    )
