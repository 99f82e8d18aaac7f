"""Login throttling (django-axes): ten failed logins lock the account, by username, for
AXES_COOLOFF_TIME; the login page, the admin's login and the API token endpoint all count."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"  # tests/factories.py
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def post_login(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def fail(client, username: str, times: int) -> None:
    for attempt in range(times):
        # A different address each time: the lock follows the account, not the IP.
        response = post_login(client, username, "wrong-password", ip=f"10.0.1.{attempt}")
        assert response.status_code in (200, 429)


def test_settings_lock_after_ten_failures_for_an_hour():
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == timedelta(hours=1)
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert settings.AXES_RESET_ON_SUCCESS is True


def test_ten_failed_logins_lock_the_account_until_the_cool_off_ends(client, rep, other_rep):
    with time_machine.travel(START, tick=False) as clock:
        for attempt in range(9):
            assert post_login(client, "rep", "wrong", ip=f"10.0.1.{attempt}").status_code == 200
        tenth = post_login(client, "rep", "wrong", ip="10.0.1.99")
        assert tenth.status_code == 429

        right = post_login(client, "rep", PASSWORD, ip="192.168.7.7")
        assert right.status_code == 429
        page = right.content.decode()
        assert "Account locked" in page
        assert "locked until 2 Mar, 10:00 (UTC)" in page  # as pages write times
        assert "_auth_user_id" not in client.session

        # Someone else, even from the attacker's address, is not affected.
        other = post_login(client, "other_rep", PASSWORD, ip="10.0.1.99")
        assert other.status_code == 302
        client.logout()

        clock.shift(timedelta(minutes=59))
        assert post_login(client, "rep", PASSWORD).status_code == 429
        clock.shift(timedelta(minutes=2))
        after = post_login(client, "rep", PASSWORD)
        assert after.status_code == 302
        assert after["Location"] == reverse("metrics:home")


def test_a_successful_login_resets_the_count(client, rep):
    fail(client, "rep", 9)
    assert post_login(client, "rep", PASSWORD).status_code == 302
    client.logout()
    fail(client, "rep", 9)
    assert post_login(client, "rep", PASSWORD).status_code == 302


def test_admin_login_counts_towards_the_same_lock(client, admin_user):
    for _ in range(10):
        client.post(
            reverse("admin:login"),
            {"username": "boss", "password": "wrong"},
            REMOTE_ADDR="10.0.0.5",
        )
    response = client.post(reverse("admin:login"), {"username": "boss", "password": PASSWORD})
    assert response.status_code == 429
    assert post_login(client, "boss", PASSWORD).status_code == 429


def test_api_token_endpoint_counts_failures_and_answers_json_when_locked(rep, other_rep):
    api = APIClient()
    url = reverse("api-token")
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(9):
            response = api.post(url, {"username": "rep", "password": "wrong"}, format="json")
            assert response.status_code == 400
        api.post(url, {"username": "rep", "password": "wrong"}, format="json")

        locked = api.post(url, {"username": "rep", "password": PASSWORD}, format="json")
        assert locked.status_code == 429
        assert locked["Content-Type"] == "application/json"
        body = locked.json()
        assert "locked until 2 Mar, 10:00 (UTC)" in body["detail"]
        assert body["locked_until"] == "2026-03-02T10:00:00+00:00"
        assert locked["Retry-After"] == "3600"
        assert "token" not in body

        # The web login is the same account, so it is locked too; others are not.
        assert post_login(APIClient(), "rep", PASSWORD).status_code == 429
        other = api.post(url, {"username": "other_rep", "password": PASSWORD}, format="json")
        assert other.status_code == 200
        assert other.json()["token"]

        clock.shift(timedelta(hours=1, minutes=1))
        again = api.post(url, {"username": "rep", "password": PASSWORD}, format="json")
        assert again.status_code == 200
        assert again.json()["token"]


def test_login_form_lockout_is_json_for_an_api_style_request(client, rep):
    """The lockout page is HTML for the browser; nothing in it leaks whether the password
    was right (the same 429 answers right and wrong passwords)."""
    fail(client, "rep", 10)
    wrong = post_login(client, "rep", "still-wrong")
    right = post_login(client, "rep", PASSWORD)
    assert wrong.status_code == right.status_code == 429
