"""Every page obeys the Content-Security-Policy (no inline script or style, nothing from
another origin): a real Chromium reports each violation as a `securitypolicyviolation`
event, collected here into window.__csp, and the test fails on any, or on a console error."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.models import ImportJob
from tests.e2e.conftest import screenshot
from tests.factories import DealFactory, LeadFactory, TargetFactory, default_stage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests-1"

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}`);
});
"""


class Watch:
    """Console errors, uncaught exceptions and documents served without the CSP header."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.without_header: list[str] = []
        page.add_init_script(LISTEN)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        # Browsers ask for /favicon.ico on their own; the site has none, and that is no error.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def _response(self, response) -> None:
        if response.request.resource_type == "document":
            if "content-security-policy" not in response.headers:
                self.without_header.append(response.url)


def log_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def visit(page, live_server, watch: Watch, path: str) -> list[str]:
    response = page.goto(live_server.url + path)
    page.wait_for_load_state("networkidle")
    assert response.status == 200, path
    header = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in header and "unsafe-inline" not in header, path
    problems = [f"{path}: {v}" for v in page.evaluate("window.__csp")]
    problems += [f"{path}: {e}" for e in watch.errors]
    watch.errors.clear()
    if problems:
        screenshot(page, "csp-" + path.strip("/").replace("/", "-"))
    return problems


@pytest.mark.tour
def test_every_page_obeys_the_content_security_policy(
    live_server, page, rep, other_rep, manager, team, admin_user
):
    admin_user.set_password(PASSWORD)
    admin_user.save()
    now = timezone.now()
    DealFactory(
        owner=rep,
        stage=default_stage("Won"),
        amount=Decimal("4200"),
        created_at=now - dt.timedelta(hours=2),
        closed_at=now - dt.timedelta(hours=1),
    )
    deal = DealFactory(owner=rep, stage=default_stage("Proposal"), amount=Decimal("8000"))
    lead = LeadFactory(owner=rep)
    TargetFactory(user=rep, period_start=dt.date(now.year, 1, 1))
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.DEALS,
        status=ImportJob.Status.DONE,
        file_name="deals.csv",
        file_size=10,
        content=b"",
        created_by=admin_user,
        result={"created": 0, "updated": 0, "errors": []},
    )
    pages = {
        "rep": [
            "/me/",
            "/deals/",
            "/deals/board/",
            f"/deals/{deal.pk}/",
            f"/deals/{deal.pk}/close/",
            "/deals/new/",
            "/leads/",
            "/leads/new/",
            f"/leads/{lead.pk}/convert/",
            "/definitions/",
            "/api/v1/docs/",
        ],
        "manager": [
            f"/teams/{team.pk}/",
            f"/reps/{rep.pk}/",
            "/targets/",
            "/targets/history/",
            "/import/",
        ],
        "boss": [
            "/org/",
            f"/import/{job.pk}/",
            "/admin/",
            "/admin/pipeline/deal/",
            f"/admin/pipeline/deal/{deal.pk}/change/",
            f"/admin/pipeline/deal/{deal.pk}/history/",
            "/admin/accounts/user/",
            f"/admin/accounts/user/{rep.pk}/change/",
            f"/admin/accounts/user/{rep.pk}/history/",
            f"/admin/pipeline/lead/{lead.pk}/change/",
            "/admin/pipeline/deal/add/",
        ],
    }
    watch = Watch(page)
    problems: list[str] = []
    visited = 0
    for username, paths in pages.items():
        log_in(page, live_server, username)
        problems += visit(page, live_server, watch, page.url.removeprefix(live_server.url))
        for path in paths:
            problems += visit(page, live_server, watch, path)
            visited += 1
    page.context.clear_cookies()
    problems += visit(page, live_server, watch, "/login/")
    assert problems == [], "\n".join(problems)
    assert watch.without_header == []
    assert visited == sum(len(paths) for paths in pages.values())


def test_the_api_docs_render_swagger_ui_from_this_server(live_server, page, rep):
    watch = Watch(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, live_server, "rep")
    assert visit(page, live_server, watch, "/api/v1/docs/") == []
    page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert all(url.startswith(live_server.url) for url in requested), requested
