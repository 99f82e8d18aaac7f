"""Login, logout and where each role lands."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(reverse("metrics:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_with_csrf(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_a_rep_logs_in_and_lands_on_their_performance(client, rep):
    response = client.post(
        reverse("login"), {"username": "rep", "password": "pw-for-tests-1"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("metrics:my-performance")
    assert response.status_code == 200


def test_a_manager_lands_on_their_team(client, manager, team):
    client.force_login(manager)
    response = client.get(reverse("metrics:home"))
    assert response["Location"] == reverse("metrics:team-dashboard", args=[team.pk])


def test_an_admin_lands_on_the_organisation(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("metrics:home"))["Location"] == reverse("metrics:org-dashboard")


def test_wrong_password_shows_an_error(client, rep):
    response = client.post(reverse("login"), {"username": "rep", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_logout_needs_post_and_ends_the_session(client, rep):
    client.force_login(rep)
    assert client.get(reverse("logout")).status_code == 405
    client.post(reverse("logout"))
    assert client.get(reverse("metrics:home")).status_code == 302
    assert client.get(reverse("metrics:my-performance")).status_code == 302


def test_navigation_shows_targets_to_managers_only(client, rep, manager):
    client.force_login(rep)
    page = client.get(reverse("pipeline:deal-list")).content.decode()
    assert reverse("pipeline:lead-list") in page
    assert reverse("metrics:targets") not in page
    client.force_login(manager)
    assert reverse("metrics:targets") in client.get(reverse("pipeline:deal-list")).content.decode()


def test_password_reset_by_email(client, rep):
    import re

    from django.core import mail

    rep.email = "rep@example.com"
    rep.save()
    assert "Forgot your password?" in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": "rep@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    done = client.post(
        form_url, {"new_password1": "a-brand-new-pw-42", "new_password2": "a-brand-new-pw-42"}
    )
    assert done["Location"] == reverse("password_reset_complete")
    # Through the real login form: django-axes wants the request that client.login() omits.
    login = client.post(reverse("login"), {"username": "rep", "password": "a-brand-new-pw-42"})
    assert login.status_code == 302
    assert login["Location"] == reverse("metrics:home")
