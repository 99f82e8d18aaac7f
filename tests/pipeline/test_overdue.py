"""An open deal whose expected close has passed is marked overdue on the board and in the
deal list, by the dashboards' rule (pipeline.deadlines), on the organisation's calendar."""

import datetime as dt
import re
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from pipeline.deadlines import is_overdue, organisation_today
from tests.factories import DealFactory, default_stage

pytestmark = pytest.mark.django_db

# 12:00 UTC on 10 March 2026 is already 01:00 on 11 March in Auckland.
NOON_UTC = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


def card(body: str, name: str) -> str:
    """The board card (or list row) of the deal named `name`."""
    match = re.search(rf"<(li|tr)[^>]*>\s*(?:(?!</\1>).)*?>{name}</a>.*?</\1>", body, re.S)
    assert match, f"{name} not shown"
    return match.group(0)


@pytest.fixture
def deals(rep):
    today = timezone.localdate()
    DealFactory(owner=rep, name="Long gone", expected_close_date=dt.date(2020, 1, 1))
    DealFactory(owner=rep, name="Due today", expected_close_date=today)
    DealFactory(owner=rep, name="Next week", expected_close_date=today + dt.timedelta(7))
    DealFactory(owner=rep, name="Undated", expected_close_date=None)
    DealFactory(
        owner=rep,
        name="Won late",
        stage=default_stage("Won"),
        expected_close_date=dt.date(2020, 1, 1),
    )


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_board_marks_only_open_deals_past_their_expected_close(client, request, deals, persona):
    client.force_login(request.getfixturevalue(persona))
    body = client.get(reverse("pipeline:deal-board")).content.decode()

    assert "overdue" in card(body, "Long gone")
    assert 'title="Expected to close 1 Jan 2020"' in card(body, "Long gone")
    for name in ("Due today", "Next week", "Undated"):
        assert "overdue" not in card(body, name)


def test_a_card_moved_on_the_board_keeps_its_mark(client, rep, deals):
    deal = rep.deals.get(name="Long gone")
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-move", args=[deal.pk]),
        {"stage": default_stage("Qualification").pk, "version": deal.version},
        **HTMX,
    )

    assert "overdue" in card(response.content.decode(), "Long gone")


def test_deal_list_marks_open_deals_past_their_expected_close(client, rep, deals):
    client.force_login(rep)
    body = client.get(reverse("pipeline:deal-list")).content.decode()

    assert '<span class="badge danger">overdue</span>' in card(body, "Long gone")
    for name in ("Due today", "Next week", "Undated", "Won late"):
        assert "overdue" not in card(body, name)


def test_today_is_the_organisations_whatever_the_active_time_zone(settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    with time_machine.travel(NOON_UTC, tick=False):
        # A viewer's time zone (UTC here, still 10 March) does not move the deadline.
        with timezone.override(zoneinfo.ZoneInfo("UTC")):
            today = organisation_today()

    assert today == dt.date(2026, 3, 11)
    assert is_overdue(expected_close_date=dt.date(2026, 3, 10), stage_kind="open", today=today)
    assert not is_overdue(expected_close_date=dt.date(2026, 3, 11), stage_kind="open", today=today)
    assert not is_overdue(expected_close_date=dt.date(2026, 3, 10), stage_kind="won", today=today)
