"""Every main page writes money with the organisation's currency and dates one way
("3 Dec", "27 Feb 2027"): never an ISO date in the visible text (issue 13, item 5).

A rep's deals on 7 Dec 2026 (the clock is frozen), worked out by hand:
  Big win    won 2 Dec 2026 06:45 UTC   851,630.00
  Renewal    Proposal, closes 27 Feb 2027   1,234.56  (whole: 1,235)
  Old thing  Prospecting, closes 1 Jan 2020 (overdue)  2.50  (whole: 3, half up)
Open: 1,234.56 + 2.50 = 1,237.06, shown as $1,237.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from accounts.choices import Role
from pipeline.models import Deal
from pipeline.services import deal_save
from tests.factories import DealFactory, UserFactory, default_stage

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@pytest.fixture
def deals(rep):
    with time_machine.travel(NOW, tick=False):
        won = DealFactory(
            owner=rep,
            name="Big win",
            stage=default_stage("Won"),
            amount=Decimal("851630.00"),
            created_at=dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC),
            closed_at=dt.datetime(2026, 12, 2, 6, 45, tzinfo=dt.UTC),
        )
        renewal = DealFactory(
            owner=rep,
            name="Renewal",
            stage=default_stage("Proposal"),
            amount=Decimal("1234.56"),
            expected_close_date=dt.date(2027, 2, 27),
            created_at=dt.datetime(2026, 11, 2, 14, 30, tzinfo=dt.UTC),
        )
        old = DealFactory(
            owner=rep,
            name="Old thing",
            amount=Decimal("2.50"),
            expected_close_date=dt.date(2020, 1, 1),
            created_at=dt.datetime(2019, 11, 20, 8, 0, tzinfo=dt.UTC),
        )
    return {"won": won, "renewal": renewal, "old": old}


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def visible_text(client, user, url: str) -> str:
    """The page's text as a reader sees it: no tags, attributes (input values among them),
    scripts or styles."""
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html))


def assert_no_iso_date(text: str) -> None:
    assert not ISO_DATE.findall(text), ISO_DATE.findall(text)


def test_date_inputs_stay_iso_for_the_browsers_picker(client, rep, deals, frozen):
    client.force_login(rep)
    html = client.get(reverse("pipeline:deal-detail", args=[deals["renewal"].pk])).content
    assert b'type="date"' in html and b'value="2027-02-27"' in html


def test_the_deal_list(client, rep, deals, frozen):
    text = visible_text(client, rep, reverse("pipeline:deal-list"))
    assert "2 open worth $1,237 · 1 won worth $851,630" in text
    assert re.search(r"Renewal .*\$1,235 .*27 Feb 2027", text), text
    assert re.search(r"Old thing .*\$3 .*1 Jan 2020", text), text
    assert re.search(r"Big win .*\$851,630 .*2 Dec\b", text), text  # this year: no year
    assert "1,234.56" not in text  # whole units in lists, as on the board
    assert_no_iso_date(text)


def test_the_board(client, rep, deals, frozen):
    text = visible_text(client, rep, reverse("pipeline:deal-board"))
    assert re.search(r"Renewal .*\$1,235 closes 27 Feb 2027", text), text
    assert re.search(r"Old thing .*\$3 overdue closes 1 Jan 2020", text), text
    assert re.search(r"Proposal 50% 1 deal \$1,235", text), text  # the column's total
    assert_no_iso_date(text)


def test_the_deal_page_shows_cents_and_times(client, rep, deals, frozen):
    url = reverse("pipeline:deal-detail", args=[deals["renewal"].pk])
    text = visible_text(client, rep, url)
    assert "$1,234.56" in text
    assert "created 2 Nov" in text
    assert "2 Nov, 14:30 Created" in text
    assert_no_iso_date(text)


def test_the_deal_pages_history_writes_dates_and_money_as_the_page_does(client, rep, deals, frozen):
    deal = Deal.objects.get(pk=deals["renewal"].pk)
    deal.expected_close_date = dt.date(2026, 12, 31)
    deal.amount = Decimal("2000")
    deal_save(deal=deal, by=rep)
    text = visible_text(client, rep, reverse("pipeline:deal-detail", args=[deal.pk]))
    assert "Amount: $1,234.56 → $2,000.00" in text
    assert "Expected close date: 27 Feb 2027 → 31 Dec" in text
    assert_no_iso_date(text)


@override_settings(TIME_ZONE="America/New_York")
def test_a_won_deal_in_the_time_zone(client, rep, deals, frozen):
    # 2 Dec 06:45 UTC is 01:45 in New York (UTC−5 in December).
    url = reverse("pipeline:deal-detail", args=[deals["won"].pk])
    text = visible_text(client, rep, url)
    assert "Won on 2 Dec" in text
    assert "$851,630.00" in text
    assert "1 Oct, 05:00 Created" in text  # 09:00 UTC
    assert_no_iso_date(text)


def test_a_reps_performance(client, rep, deals, frozen):
    text = visible_text(client, rep, reverse("metrics:my-performance"))
    assert re.search(r"Revenue in Q4 2026 \$851,630\b", text), text
    assert re.search(r"Pipeline \$1,237\b", text), text
    # Closing soon lists the overdue deal, dated the pages' way.
    assert re.search(r"Old thing .*\$3 1 Jan 2020", text), text
    assert "851,630.00" not in text
    assert_no_iso_date(text)


def test_the_organisation(client, rep, deals, frozen):
    boss = UserFactory(username="boss", role=Role.ADMIN, team=None)
    text = visible_text(client, boss, reverse("metrics:org-dashboard"))
    assert re.search(r"Revenue in Q4 2026 \$851,630\b", text), text
    assert_no_iso_date(text)


@override_settings(ORGANISATION_CURRENCY="CHF")
def test_a_currency_without_a_symbol_is_written_by_its_code(client, rep, deals, frozen):
    text = visible_text(client, rep, reverse("pipeline:deal-list"))
    assert "open worth CHF\u00a01,237 · 1 won worth CHF\u00a0851,630" in text
    text = visible_text(client, rep, reverse("metrics:my-performance"))
    assert re.search(r"Revenue in Q4 2026 CHF\u00a0851,630\b", text), text
    assert "$" not in text
