"""Money and dates as a reader sees them in Chromium: every amount with its currency, whole
units except on a deal's page, no ISO date outside the date inputs, on the main pages at
laptop and phone width (issue 13, item 5). Screenshots: test-artifacts/screenshots/."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.choices import Role
from metrics.choices import PeriodKind
from periods.calendar import period_start
from tests.e2e.conftest import screenshot
from tests.e2e.test_flows import PHONE, log_in
from tests.factories import DealFactory, UserFactory, default_stage

pytestmark = [pytest.mark.e2e, pytest.mark.tour, pytest.mark.django_db(transaction=True)]
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def test_the_main_pages_write_money_and_dates_one_way(live_server, page, rep):
    now = timezone.now()
    last_year = now.year - 1
    DealFactory(
        owner=rep,
        name="Big win",
        stage=default_stage("Won"),
        amount=Decimal("851630.00"),
        created_at=now - dt.timedelta(days=3),
        closed_at=now - dt.timedelta(hours=2),
    )
    renewal = DealFactory(
        owner=rep,
        name="Renewal",
        stage=default_stage("Proposal"),
        amount=Decimal("1234.56"),
        expected_close_date=dt.date(now.year + 1, 2, 27),
    )
    DealFactory(owner=rep, name="Old thing", amount=Decimal("2.50"), expected_close_date=None)
    DealFactory(
        owner=rep,
        name="Overdue",
        stage=default_stage("Negotiation"),
        amount=Decimal("40000"),
        expected_close_date=dt.date(last_year, 3, 3),
    )
    UserFactory(username="boss", role=Role.ADMIN, team=None)

    pages = {
        "me": ("/me/", ["$851,630", "$41,237"]),  # open: 1,234.56 + 2.50 + 40,000 = 41,237.06
        "deals": ("/deals/", ["$1,235", f"27 Feb {now.year + 1}", f"3 Mar {last_year}"]),
        "board": ("/deals/board/", ["$1,235", f"closes 27 Feb {now.year + 1}", "$3"]),
        "deal": (f"/deals/{renewal.pk}/", ["$1,234.56"]),
    }
    log_in(page, live_server, rep.username)
    for name, (path, expected) in pages.items():
        for width, viewport in (("1280", {"width": 1280, "height": 800}), ("390", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            text = page.inner_text("main")
            for figure in expected:
                # The phone hides the list's secondary columns, the dates among them.
                if width == "1280" or "$" in figure:
                    assert figure in text, (name, width, figure)
            assert not ISO_DATE.search(text), (name, ISO_DATE.findall(text))
            screenshot(page, f"money-dates-{name}-{width}")

    page.context.clear_cookies()
    log_in(page, live_server, "boss")
    for width, viewport in (("1280", {"width": 1280, "height": 800}), ("390", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(live_server.url + "/org/")
        page.wait_for_load_state("networkidle")
        text = page.inner_text("main")
        assert "$851,630" in text
        assert not ISO_DATE.search(text), ISO_DATE.findall(text)
        screenshot(page, f"money-dates-org-{width}")


def test_targets_and_their_history_carry_the_currency(live_server, page, rep, manager):
    quarter = period_start(timezone.localdate(), PeriodKind.QUARTER)
    log_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/targets/?kind=quarter&year={quarter.year}")
    cell = page.locator(f"#t-user-{rep.pk}-{quarter.isoformat()}")
    total = cell.locator("xpath=ancestor::tr").locator("[data-total]")
    cell.fill("12,000.50")
    # The script totals as the server writes money: whole units, with the currency.
    assert total.inner_text() == "$12,001"
    page.click("button:has-text('Save targets')")
    page.wait_for_load_state("networkidle")
    assert total.inner_text() == "$12,001"
    screenshot(page, "money-dates-targets-1280")
    page.goto(f"{live_server.url}/targets/history/")
    row = page.locator("table.history-table tbody tr").first.inner_text()
    assert "$12,001" in row and not ISO_DATE.search(row), row
    for width, viewport in (("1280", {"width": 1280, "height": 800}), ("390", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"money-dates-target-history-{width}")
