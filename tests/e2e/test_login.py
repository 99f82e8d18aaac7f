"""A person with a browser logs in and lands on their page."""

import pytest

from tests.e2e.conftest import screenshot
from tests.factories import DealFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_rep_logs_in_and_sees_their_open_deals(live_server, page, rep):
    DealFactory(owner=rep, name="Acme renewal")
    page.goto(live_server.url + "/")
    assert page.url.startswith(live_server.url + "/login/")
    screenshot(page, "login-1280")

    page.fill("#id_username", "rep")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")

    page.wait_for_url(live_server.url + "/")
    assert page.locator("h1").inner_text() == f"Hello, {rep.first_name}"
    assert page.get_by_role("cell", name="Acme renewal").is_visible()
    screenshot(page, "home-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "home-390")


def test_a_wrong_password_keeps_the_user_out(live_server, page, rep):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "rep")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "correct username and password" in page.locator(".error").inner_text()
    assert page.url.startswith(live_server.url + "/login/")
