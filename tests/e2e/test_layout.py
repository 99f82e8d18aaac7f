"""Pages fit a laptop (1280 px) and a phone (390 px): in a real Chromium, on an organisation
with long names and big amounts, no card, tile, table box or cell is wider than itself
unless it is a table box that scrolls and shows its cue ("scroll →", edge shadows); the
page never scrolls sideways; on a phone the nav folds behind a menu button that opens it
(by mouse and keyboard), and without JavaScript the nav is simply there. The 403 and 404
pages sit in the layout with the nav. Every page is photographed at both widths as
test-artifacts/screenshots/<page>-<role>-<width>.png.

The walk over every page is marked `tour` (make test-slow); a few pages run in `make test`."""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.choices import Role
from metrics.choices import PeriodKind
from periods.calendar import period_start
from pipeline.models import ImportJob
from tests.e2e.conftest import screenshot
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    StageChangeFactory,
    TargetFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests-1"
WIDTHS = {1280: 800, 390: 844}

# Every box that must hold its content, and the table boxes allowed to scroll (with cue).
FITS = """
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push(`the page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth}`);
  }
  const classes = (el) => typeof el.className === "string" && el.className.trim()
    ? "." + el.className.trim().split(/\\s+/).join(".") : "";
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + classes(el)
    + ` "${(el.innerText || "").trim().slice(0, 40).replace(/\\s+/g, " ")}"`;
  const boxes = document.querySelectorAll(
    ".topbar, main .card, main .tile, main section, main .page-head > *, main .table-scroll,"
    + " main .targets-scroll, main td, main th, main .board-card, main .messages li"
  );
  const laptop = root.clientWidth >= 1000;
  for (const box of boxes) {
    if (!box.checkVisibility()) continue;  // not displayed (a folded <details>, a hidden column)
    // On a laptop every table fits its card; only the targets grid, a spreadsheet of up to
    // 13 columns, scrolls.
    if (laptop && box.matches(".table-scroll") && box.scrollWidth > box.clientWidth + 1) {
      problems.push(`${name(box)}: a table of ${box.scrollWidth} px in ${box.clientWidth} px`);
      continue;
    }
    if (box.scrollWidth <= box.clientWidth + 1) continue;
    if (box.matches(".table-scroll, .targets-scroll")) {
      const hint = box.nextElementSibling;
      const cue = box.classList.contains("overflowing") && hint && hint.matches(".scroll-hint")
        && getComputedStyle(hint).display !== "none" && hint.innerText.includes("scroll");
      if (cue) continue;
      problems.push(`${name(box)} scrolls without its cue`);
      continue;
    }
    problems.push(`${name(box)}: ${box.scrollWidth} px of content in ${box.clientWidth} px`);
  }
  return problems;
}
"""


@dataclass
class Organisation:
    rep: int
    team: int
    region: int
    deal: int
    others_deal: int
    job: int


def seed_wide_organisation(admin) -> Organisation:
    """A region of two teams whose names, people, companies and amounts are as long as real
    ones get: eight-figure deals, hyphenated surnames, a company name of 60 characters."""
    now = timezone.now()
    quarter = period_start(timezone.localdate(), PeriodKind.QUARTER)
    region = TeamFactory(name="North America Enterprise & Strategic Accounts")
    team = TeamFactory(name="Enterprise Accounts – Northeast Strategic", parent=region)
    other = TeamFactory(name="Mid-Market Growth – Pacific Northwest", parent=region)
    manager = UserFactory(
        username="manager",
        team=team,
        role=Role.MANAGER,
        first_name="Genevieve",
        last_name="Okonkwo-Lindqvist",
    )
    team.manager = manager
    team.save()
    region.manager = admin
    region.save()
    names = [
        ("rep", "Maximiliana", "Alexandrescu-Vandenberghe"),
        ("rep2", "Bartholomew", "Fitzgerald-Montgomery"),
        ("rep3", "Anastasiya", "Konstantinopoulou"),
        ("rep4", "Oluwaseun", "Adebayo-Williamson"),
        ("rep5", "Christopher", "Papadimitriou-Schmidt"),
    ]
    reps = [
        UserFactory(username=u, team=team, role=Role.REP, first_name=f, last_name=last)
        for u, f, last in names
    ]
    outsider = UserFactory(
        username="outsider",
        team=other,
        role=Role.REP,
        first_name="Wilhelmina",
        last_name="Featherstonehaugh",
    )
    company = CompanyFactory(name="Consolidated Intercontinental Logistics & Warehousing Group")
    won, proposal, lost = (default_stage(s) for s in ("Won", "Proposal", "Lost"))
    others_deal = DealFactory(owner=outsider, name="Not yours", company=company).pk
    for n, rep in enumerate([*reps, outsider]):
        amount = Decimal("987654321.99") - n * Decimal("12345678.91")
        DealFactory(
            owner=rep,
            company=company,
            stage=won,
            amount=amount,
            name=f"{company.name} – platform renewal, 4,000 seats, three years",
            created_at=now - dt.timedelta(days=3),
            closed_at=now - dt.timedelta(hours=2),
        )
        DealFactory(
            owner=rep,
            company=company,
            stage=lost,
            amount=Decimal("45000000"),
            created_at=now - dt.timedelta(days=3),
            closed_at=now - dt.timedelta(hours=3),
        )
        DealFactory(
            owner=rep,
            company=company,
            stage=proposal,
            amount=amount * 2,
            expected_close_date=timezone.localdate() - dt.timedelta(days=400),
            created_at=now - dt.timedelta(days=40),
        )
        LeadFactory(
            owner=rep,
            company=company,
            contact_name="Dr. Marie-Christine Beaumont-Vasquez, Chief Procurement Officer",
        )
        TargetFactory(
            user=rep,
            period_kind=PeriodKind.QUARTER,
            period_start=quarter,
            value=Decimal("999999999999.99"),
        )
    TargetFactory(
        user=None,
        team=team,
        period_kind=PeriodKind.QUARTER,
        period_start=quarter,
        value=Decimal("999999999999.99"),
    )
    deal = DealFactory(
        owner=reps[0],
        company=company,
        stage=proposal,
        amount=Decimal("123456789.50"),
        name="Consolidated Intercontinental – global rollout of the analytics suite",
    )
    StageChangeFactory(deal=deal, to_stage=proposal)
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.DEALS,
        status=ImportJob.Status.REJECTED,
        file_name="deals-from-the-old-crm-export-with-a-long-name.csv",
        file_size=10,
        content=b"",
        created_by=admin,
        result={
            "rows": 2,
            "created": 0,
            "updated": 0,
            "unchanged": 0,
            "error_count": 1,
            "errors": [
                {
                    "line": 2,
                    "column": "owner",
                    "message": (
                        "No user has the username"
                        " 'maximiliana.alexandrescu-vandenberghe@example.com';"
                        " create the account first or fix the owner column."
                    ),
                }
            ],
        },
    )
    return Organisation(reps[0].pk, team.pk, region.pk, deal.pk, others_deal, job.pk)


def log_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def check_nav(page, width: int, shot: str = "") -> list[str]:
    """The nav is reachable: every link visible at 1280; at 390 behind the menu button,
    which opens it by click and by keyboard and closes with Escape."""
    links = page.locator(".nav a")
    button = page.locator(".menu-button")
    problems = []
    if width > 760:
        if button.is_visible():
            problems.append("menu button shown on a laptop")
    else:
        if not button.is_visible() or button.get_attribute("aria-expanded") != "false":
            return ["no closed menu button on a phone"]
        if links.first.is_visible():
            problems.append("the nav is open before the button is pressed")
        button.focus()
        page.keyboard.press("Enter")
        if button.get_attribute("aria-expanded") != "true":
            problems.append("Enter on the menu button did not open it")
        if shot:
            screenshot(page, shot)
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        if not links.nth(i).is_visible() or box is None or box["x"] + box["width"] > width:
            problems.append(f"nav link {links.nth(i).inner_text()!r} not visible")
    if width <= 760:
        page.keyboard.press("Escape")
        if links.first.is_visible() or button.get_attribute("aria-expanded") != "false":
            problems.append("Escape did not close the menu")
    return problems


# Dates are written one way on pages ("3 Dec", "27 Feb 2025"; periods.formats): neither ISO
# nor month-first, in the page's text (inputs, links and <code> samples of the CSV format
# keep ISO).
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
OTHER_DATE_FORMATS = re.compile(rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|(?<!\d )\b{MONTH} \d{{1,2}}\b(?!:)")
PROSE = """() => {
  const main = document.querySelector("main").cloneNode(true);
  main.querySelectorAll("code, pre, script").forEach((el) => el.remove());
  return main.textContent;
}"""


def walk(page, live_server, role: str, pages: list[tuple[str, str, int]]) -> list[str]:
    """Each page at both widths: its status, the fit, the nav, one date format, a
    screenshot."""
    problems = []
    for name, path, status in pages:
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            response = page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            where = f"{name} as {role} at {width}"
            if response.status != status:
                problems.append(f"{where}: status {response.status}, not {status}")
            screenshot(page, f"{name}-{role}-{width}")
            problems += [f"{where}: {p}" for p in page.evaluate(FITS)]
            text = page.evaluate(PROSE)
            problems += [f"{where}: date {d!r}" for d in OTHER_DATE_FORMATS.findall(text)]
            if role != "anonymous":
                shot = f"nav-open-{role}-{width}" if name == pages[0][0] else ""
                problems += [f"{where}: {p}" for p in check_nav(page, width, shot)]
    return problems


@pytest.fixture
def org(admin_user) -> Organisation:
    admin_user.set_password(PASSWORD)
    admin_user.save()
    return seed_wide_organisation(admin_user)


def test_the_managers_deal_list_and_a_reps_team_page_fit_both_widths(live_server, page, org):
    log_in(page, live_server, "manager")
    problems = walk(page, live_server, "manager", [("deal-list", "/deals/", 200)])
    log_in(page, live_server, "rep")
    problems += walk(page, live_server, "rep", [("team", f"/teams/{org.team}/", 200)])
    assert problems == [], "\n".join(problems)


def test_a_wide_table_on_a_phone_scrolls_in_its_box_and_says_so(live_server, page, org):
    log_in(page, live_server, "manager")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/teams/{org.team}/")
    box = page.locator(".table-scroll:has(table.comparison)")
    assert "overflowing" in box.get_attribute("class")
    assert box.get_attribute("tabindex") == "0"
    assert box.locator("xpath=following-sibling::p[1]").inner_text() == "scroll →"
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(box).not_to_have_class(re.compile("overflowing"))
    assert not box.locator("xpath=following-sibling::p[1]").is_visible()


def test_without_javascript_the_phone_nav_is_open(live_server, browser, org):
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, "manager")
    page.goto(live_server.url + "/deals/")
    assert not page.locator(".menu-button").is_visible()
    labels = [a.inner_text() for a in page.locator(".nav a").all() if a.is_visible()]
    assert labels == ["Dashboard", "Deals", "Leads", "Targets", "Import", "Definitions"]
    context.close()


def test_a_rep_gets_the_styled_403_and_404_pages_with_the_nav(live_server, page, org):
    log_in(page, live_server, "rep")
    response = page.goto(live_server.url + "/targets/")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "You cannot do this"
    assert page.locator(".error-reason").inner_text() == "Only managers and admins set targets."
    assert page.locator(".nav a", has_text="My team").count() == 1
    screenshot(page, "403-rep-1280")

    missing = page.goto(f"{live_server.url}/deals/{org.others_deal + 10_000}/")
    missing_text = page.locator("main").inner_text()
    theirs = page.goto(f"{live_server.url}/deals/{org.others_deal}/")
    assert (missing.status, theirs.status) == (404, 404)
    assert page.locator("main").inner_text() == missing_text  # nothing tells them apart
    assert page.locator(".nav a").count() >= 4
    screenshot(page, "404-rep-1280")


@pytest.mark.tour
def test_every_page_fits_at_laptop_and_phone_width_for_every_role(live_server, page, org):
    rep_pages = [
        ("dashboard", "/me/", 200),
        ("dashboard-year", "/me/?period=year", 200),
        ("team", f"/teams/{org.team}/", 200),
        ("deal-list", "/deals/", 200),
        ("deal-board", "/deals/board/", 200),
        ("deal", f"/deals/{org.deal}/", 200),
        ("deal-form", "/deals/new/", 200),
        ("lead-list", "/leads/", 200),
        ("lead-form", "/leads/new/", 200),
        ("definitions", "/definitions/", 200),
        ("403", "/targets/", 403),
        ("403-import", "/import/", 403),
        ("404", "/no-such-page/", 404),
        ("404-deal", f"/deals/{org.others_deal}/", 404),
    ]
    manager_pages = [
        ("team", f"/teams/{org.team}/?period=quarter", 200),
        ("team-year", f"/teams/{org.team}/?period=year", 200),
        ("rep-drilldown", f"/reps/{org.rep}/", 200),
        ("deal-list", "/deals/", 200),
        ("deal-board", "/deals/board/", 200),
        ("deal", f"/deals/{org.deal}/", 200),
        ("deal-form", "/deals/new/", 200),
        ("lead-list", "/leads/", 200),
        ("lead-form", "/leads/new/", 200),
        ("targets", "/targets/", 200),
        ("target-history", "/targets/history/", 200),
        ("import", "/import/", 200),
        ("import-format", "/import/format/", 200),
        ("definitions", "/definitions/", 200),
        ("404", f"/teams/{org.region}/", 404),
    ]
    admin_pages = [
        ("org", "/org/?period=quarter", 200),
        ("org-year", "/org/?period=year", 200),
        ("region", f"/teams/{org.region}/", 200),
        ("deal-list", "/deals/", 200),
        ("deal", f"/deals/{org.deal}/", 200),
        ("targets", "/targets/", 200),
        ("target-history", "/targets/history/", 200),
        ("import", "/import/", 200),
        ("import-job", f"/import/{org.job}/", 200),
        ("definitions", "/definitions/", 200),
    ]
    problems = []
    for role, username, pages in [
        ("rep", "rep", rep_pages),
        ("manager", "manager", manager_pages),
        ("admin", "boss", admin_pages),
    ]:
        log_in(page, live_server, username)
        problems += walk(page, live_server, role, pages)
    page.context.clear_cookies()
    problems += walk(page, live_server, "anonymous", [("login", "/login/", 200)])
    assert problems == [], "\n".join(problems)
