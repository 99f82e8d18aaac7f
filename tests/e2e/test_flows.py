"""The issue's user journeys in a real Chromium against a live server:
a rep logs a deal, walks it through the stages, wins it and sees the revenue on their
dashboard; a manager sets a target and the rep's progress bar shows the attainment; a rep
cannot open another rep's deal. Every dashboard is photographed at laptop and phone size."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.choices import Role
from metrics.choices import PeriodKind
from periods.calendar import period_start
from pipeline.models import Deal, StageChange
from tests.e2e.conftest import screenshot
from tests.factories import DealFactory, UserFactory, default_stage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests-1"
PHONE = {"width": 390, "height": 844}


def log_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def won_earlier_this_quarter(rep, amount: str) -> None:
    """A deal the rep already won today, so the new total is a sum, not one deal."""
    now = timezone.now()
    DealFactory(
        owner=rep,
        stage=default_stage("Won"),
        amount=Decimal(amount),
        created_at=now - dt.timedelta(hours=2),
        closed_at=now - dt.timedelta(hours=1),
    )


def test_rep_logs_a_deal_wins_it_and_sees_the_new_revenue(live_server, page, rep):
    won_earlier_this_quarter(rep, "1000.00")
    log_in(page, live_server, "rep")
    assert page.url == live_server.url + "/me/"
    assert page.locator(".goal-value").inner_text() == "$1,000"

    page.goto(live_server.url + "/deals/new/")
    page.fill("#id_name", "Globex – 40 seats")
    page.fill("#id_company_name", "Globex")
    page.fill("#id_amount", "2,500")
    page.click("button:has-text('Create deal')")
    page.wait_for_url(f"{live_server.url}/deals/*/")
    deal = Deal.objects.get(name="Globex – 40 seats")
    assert (deal.owner, deal.stage.name, deal.amount) == (rep, "Prospecting", Decimal("2500"))

    for _ in ("Qualification", "Proposal", "Negotiation"):
        page.click("form.inline-form button:has-text('Move')")
        page.wait_for_load_state("networkidle")
    screenshot(page, "deal-detail-1280")
    page.fill("form.close-form.won input[name=amount]", "2,500.00")
    page.click("form.close-form.won button:has-text('Mark won')")
    page.wait_for_load_state("networkidle")

    deal.refresh_from_db()
    assert deal.stage.name == "Won"
    moves = StageChange.objects.filter(deal=deal).order_by("changed_at", "id")
    assert [m.to_stage.name for m in moves] == ["Qualification", "Proposal", "Negotiation", "Won"]
    assert {m.changed_by for m in moves} == {rep}

    page.goto(live_server.url + "/me/")
    assert page.locator(".goal-value").inner_text() == "$3,500"
    screenshot(page, "my-performance-1280")
    page.set_viewport_size(PHONE)
    screenshot(page, "my-performance-390")


def test_manager_sets_a_target_and_the_rep_sees_the_attainment(
    live_server, page, browser, rep, manager
):
    won_earlier_this_quarter(rep, "3000.00")
    quarter = period_start(timezone.localdate(), PeriodKind.QUARTER)
    log_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/targets/?kind=quarter&year={quarter.year}")
    cell = f"#t-user-{rep.pk}-{quarter.isoformat()}"
    page.fill(cell, "12,000")
    page.click("button:has-text('Save targets')")
    page.wait_for_load_state("networkidle")
    assert "Saved 1 change" in page.locator(".messages").inner_text()
    screenshot(page, "targets-1280")

    rep_context = browser.new_context(viewport={"width": 1280, "height": 800})
    rep_page = rep_context.new_page()
    log_in(rep_page, live_server, "rep")
    # 3,000 of 12,000: a quarter of the way
    assert rep_page.locator("progress[aria-label=Attainment]").get_attribute("value") == "25"
    assert "25.0%" in rep_page.locator(".goal-foot").inner_text()
    rep_context.close()


def test_a_rep_cannot_open_another_reps_deal(live_server, page, rep, other_rep):
    theirs = DealFactory(owner=other_rep, name="Not yours")
    log_in(page, live_server, "rep")
    for path in (f"/deals/{theirs.pk}/", f"/deals/{theirs.pk}/close/?outcome=won"):
        response = page.goto(live_server.url + path)
        assert response.status in (403, 404)
        assert "Not yours" not in page.content()
    response = page.goto(f"{live_server.url}/reps/{other_rep.pk}/")
    assert response.status == 404


@pytest.mark.tour
def test_every_dashboard_at_laptop_and_phone_width(
    live_server, page, rep, manager, team, admin_user
):
    admin_user.set_password(PASSWORD)
    admin_user.save()
    won_earlier_this_quarter(rep, "4200.00")
    DealFactory(owner=rep, stage=default_stage("Proposal"), amount=Decimal("8000"))
    UserFactory(username="newbie", team=team, role=Role.REP)
    shots = [
        ("rep", "/me/", "dashboard-rep"),
        ("newbie", "/me/", "dashboard-new-rep"),
        ("manager", f"/teams/{team.pk}/", "dashboard-team"),
        ("manager", f"/reps/{rep.pk}/", "dashboard-rep-drilldown"),
        ("boss", "/org/", "dashboard-org"),
        ("rep", "/definitions/", "glossary"),
        ("rep", "/deals/board/", "deal-board"),
        ("rep", "/deals/", "deal-list"),
        ("rep", "/leads/", "lead-list"),
    ]
    for username, path, name in shots:
        page.context.clear_cookies()
        log_in(page, live_server, username)
        for width, height in [(1280, 800), (390, 844)]:
            page.set_viewport_size({"width": width, "height": height})
            response = page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            assert response.status == 200, path
            text = page.locator("main").inner_text()
            assert "NaN" not in text and "None" not in text and "Infinity" not in text
            screenshot(page, f"{name}-{width}")


def test_board_moves_redraw_the_two_columns_by_arrow_and_by_drag(live_server, page, rep):
    """A move answers with what it changed, swapped into the page out of band: the card
    shows on top of its new column (once), both totals right, every other column stays,
    and the next move (by drag and drop) works on the changed columns."""
    first = DealFactory(owner=rep, name="Arrow deal", amount=Decimal("1000"))
    DealFactory(owner=rep, name="Dragged deal", amount=Decimal("2000"))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "rep")
    page.goto(live_server.url + "/deals/board/")
    prospecting, qualification, proposal = (
        page.locator(f"#board-column-{default_stage(name).pk}")
        for name in ("Prospecting", "Qualification", "Proposal")
    )
    assert prospecting.locator(".board-total span").inner_text() == "2 deals"

    page.click("button[aria-label='Move Arrow deal on to Qualification']")
    qualification.locator(f"#deal-{first.pk}").wait_for()
    assert qualification.locator(".board-total").inner_text() == "1 deal\n$1,000"
    assert prospecting.locator(".board-total").inner_text() == "1 deal\n$2,000"
    assert page.locator(".board-column").count() == 4  # the other columns are still there
    assert page.locator(f"#deal-{first.pk}").count() == 1  # moved, not copied
    assert qualification.locator(".board-empty").count() == 0
    assert prospecting.locator(".board-card").count() == 1

    page.locator(".board-card", has_text="Dragged deal").drag_to(proposal.locator(".board-cards"))
    proposal.locator(".board-card", has_text="Dragged deal").wait_for()
    page.wait_for_load_state("networkidle")
    assert proposal.locator(".board-total span").inner_text() == "1 deal"
    assert prospecting.locator(".board-empty").count() == 1
    moves = StageChange.objects.order_by("pk").values_list("deal__name", "to_stage__name")
    assert list(moves) == [("Arrow deal", "Qualification"), ("Dragged deal", "Proposal")]
    assert errors == []
    screenshot(page, "deal-board-after-moves")
