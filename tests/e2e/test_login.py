"""A person with a browser logs in and lands on their page."""

import pytest

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_rep_logs_in_and_lands_on_their_performance(live_server, page, rep):
    page.goto(live_server.url + "/")
    assert page.url.startswith(live_server.url + "/login/")
    screenshot(page, "login-1280")
    page.fill("#id_username", "rep")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/me/")
    assert rep.first_name in page.locator("main").inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/login/")
    screenshot(page, "login-390")


def test_a_wrong_password_keeps_the_user_out(live_server, page, rep):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "rep")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "correct username and password" in page.locator(".error").inner_text()
    assert page.url.startswith(live_server.url + "/login/")
