"""An API token dies with the password it was obtained with, and with the account: whatever
path changes the password (the reset page, the admin's form, set_password in a shell) or
deactivates the user, the old token answers 401 from then on."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.api.conftest import url

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-1"  # tests/factories.py
NEW_PASSWORD = "a-brand-new-pw-2026"


@pytest.fixture
def signed_in(api, rep):
    """The API client carrying a token `rep` obtained from auth/token/."""
    response = api.post(url("api-token"), {"username": "rep", "password": PASSWORD})
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get(url("deal-list")).status_code == 200
    return api


def refused(api) -> bool:
    response = api.get(url("deal-list"))
    return response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_the_password_reset_page_revokes_the_token(signed_in, rep):
    browser = Client()
    browser.post(reverse("password_reset"), {"email": rep.email})
    link = re.search(r"/password-reset/[^/\s]+/[^/\s]+/", mail.outbox[0].body).group(0)
    form = browser.get(link, follow=True)  # Django swaps the token for a session key
    answer = browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("password_reset_complete")
    assert refused(signed_in)
    assert not Token.objects.filter(user=rep).exists()


def test_the_admins_password_form_revokes_the_token(signed_in, rep, admin_user):
    browser = Client()
    browser.force_login(admin_user)
    answer = browser.post(
        reverse("admin:auth_user_password_change", args=[rep.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert answer.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password(NEW_PASSWORD)
    assert refused(signed_in)


def test_set_password_in_a_shell_revokes_the_token(signed_in, rep):
    rep.set_password(NEW_PASSWORD)
    rep.save()
    assert refused(signed_in)


def test_the_new_password_gets_a_new_token_that_works(signed_in, api, rep):
    old = Token.objects.get(user=rep).key
    rep.set_password(NEW_PASSWORD)
    rep.save()
    api.credentials()
    response = api.post(url("api-token"), {"username": "rep", "password": NEW_PASSWORD})
    assert response.json()["token"] != old
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get(url("deal-list")).status_code == 200


def test_deactivating_the_user_revokes_the_token(signed_in, rep):
    rep.is_active = False
    rep.save()
    assert refused(signed_in)
    assert not Token.objects.filter(user=rep).exists()


def test_other_changes_to_the_user_keep_the_token(signed_in, rep):
    # A sign-in (last_login), a new name or team: the password is the same, the token stays.
    rep.first_name = "Renamed"
    rep.save()
    login = Client().post(reverse("login"), {"username": "rep", "password": PASSWORD})
    assert login.status_code == 302
    assert signed_in.get(url("deal-list")).status_code == 200
