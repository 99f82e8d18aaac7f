"""Issue 13's smaller things in a real Chromium: an overdue deal is marked on the board,
a past expected close is saved with a warning, a 200-character unbroken name stays inside
its boxes, a possible duplicate lead is asked about, a converted lead links to its deal,
a manager's import page says what it imports and links its format page, and the favicon
loads. Each page is photographed at 1280 px."""

import datetime as dt

import pytest

from pipeline.choices import LeadStatus
from pipeline.models import Lead
from tests.e2e.conftest import screenshot
from tests.e2e.test_flows import log_in
from tests.factories import CompanyFactory, DealFactory, LeadFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LONG = "W" * 200


def overflowing(page, selector: str) -> list[str]:
    """The elements matching `selector` whose content is wider than their box."""
    return page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)",
    )


def test_rep_sees_overdue_marks_and_long_names_fit(live_server, page, rep):
    DealFactory(owner=rep, name="Long overdue", expected_close_date=dt.date(2020, 1, 1))
    DealFactory(owner=rep, name=LONG, company=CompanyFactory(name="C" * 200))
    log_in(page, live_server, "rep")

    page.goto(live_server.url + "/deals/board/")
    card = page.locator(".board-card", has_text="Long overdue")
    assert card.locator(".badge.danger").inner_text() == "overdue"
    assert overflowing(page, ".board-card, .board-card-title, .board-card-company") == []
    screenshot(page, "board-overdue-1280")

    page.goto(live_server.url + "/deals/new/")
    page.fill("#id_name", LONG)
    page.fill("#id_expected_close_date", "2026-01-02")
    page.click("button.primary[type=submit]")
    page.wait_for_load_state("networkidle")
    messages = page.inner_text(".messages")
    assert "Expected close 2 Jan 2026 is in the past" in messages
    screenshot(page, "deal-past-close-long-name-1280")
    assert overflowing(page, ".messages li, .page-head h1") == []

    response = page.goto(live_server.url + "/favicon.ico")
    assert response.ok and "svg" in response.headers["content-type"]


def test_rep_is_asked_about_a_duplicate_lead_and_finds_the_converted_ones_deal(
    live_server, page, rep
):
    acme = CompanyFactory(name="Acme")
    LeadFactory(owner=rep, company=acme, contact_name="Jo First", contact_email="jo@acme.example")
    converted = LeadFactory(owner=rep, company=CompanyFactory(name="Initech"), status="converted")
    DealFactory(owner=rep, lead=converted, name="Initech renewal")
    log_in(page, live_server, "rep")

    page.goto(live_server.url + "/leads/new/")
    page.fill("#id_company_name", "acme")
    page.fill("#id_contact_name", "Jo Again")
    page.fill("#id_contact_email", "JO@acme.example")
    page.click("button:has-text('Add lead')")
    page.wait_for_load_state("networkidle")
    assert "Possible duplicate" in page.inner_text(".duplicate-warning")
    screenshot(page, "lead-possible-duplicate-1280")
    page.click("button:has-text('Add anyway')")
    page.wait_for_load_state("networkidle")
    assert Lead.objects.filter(company=acme).count() == 2

    page.click("a.made-deal")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1") == "Initech renewal"
    page.go_back()
    assert Lead.objects.filter(status=LeadStatus.CONVERTED).count() == 1
    screenshot(page, "lead-list-converted-link-1280")


def test_manager_imports_deals_without_a_choice_and_reads_the_format(live_server, page, manager):
    log_in(page, live_server, "manager")
    page.goto(live_server.url + "/import/")
    assert page.locator("input[type=radio]").count() == 0
    assert page.inner_text("[data-testid=only-kind]") == "What the file holds: Deals"
    screenshot(page, "import-manager-1280")

    page.click("text=Every column and rule")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1") == "CSV import format"
    screenshot(page, "import-format-1280")
    assert overflowing(page, ".card") == []
