"""Django's password validators guard every form that sets a password (min length 10), and
production stores passwords with PBKDF2 (the suite itself hashes with MD5, tests/conftest.py)."""

import re

import pytest
from django.conf import global_settings, settings
from django.core import mail
from django.urls import reverse

import salesperf.settings as production_settings
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def reset_form_url(client, user) -> str:
    user.email = "rep@example.com"
    user.save()
    client.post(reverse("password_reset"), {"email": "rep@example.com"})
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[-1].body).group(1)
    return client.get(link)["Location"]  # Django swaps the token for a session marker


def test_validators_are_on_with_a_minimum_of_ten_characters():
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    assert settings.AUTH_PASSWORD_VALIDATORS[1]["OPTIONS"] == {"min_length": 10}


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Xk7#pq2", "at least 10 characters"),
        ("password123", "too common"),
        ("4829175530", "entirely numeric"),
        ("rep@example.com", "too similar"),
    ],
)
def test_the_password_reset_form_refuses_a_weak_password(client, rep, password, message):
    url = reset_form_url(client, rep)
    response = client.post(url, {"new_password1": password, "new_password2": password})
    assert response.status_code == 200
    assert message in response.content.decode()
    rep.refresh_from_db()
    assert rep.check_password("pw-for-tests-1")


def test_the_password_reset_form_takes_a_strong_password(client, rep):
    url = reset_form_url(client, rep)
    response = client.post(
        url, {"new_password1": "kettle-orbit-77-lamp", "new_password2": "kettle-orbit-77-lamp"}
    )
    assert response["Location"] == reverse("password_reset_complete")
    rep.refresh_from_db()
    assert rep.check_password("kettle-orbit-77-lamp")


def test_production_stores_passwords_with_pbkdf2_at_a_million_rounds(client, rep, settings):
    # salesperf.settings names no hashers, so production runs Django's default list.
    settings.PASSWORD_HASHERS = getattr(
        production_settings, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS
    )
    rep.set_password("kettle-orbit-77-lamp")
    rep.save()
    algorithm, iterations, _salt, _digest = rep.password.split("$")
    assert (algorithm, int(iterations)) == ("pbkdf2_sha256", 1_000_000)
    response = client.post(
        reverse("login"), {"username": "rep", "password": "kettle-orbit-77-lamp"}
    )
    assert response.status_code == 302
    assert client.get(reverse("metrics:my-performance")).status_code == 200


def test_the_suite_hashes_with_md5_which_production_never_uses():
    assert UserFactory.build().password.startswith("md5$")
    assert "MD5PasswordHasher" not in str(global_settings.PASSWORD_HASHERS)
