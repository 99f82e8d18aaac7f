"""Login, logout and the landing page."""

import pytest
from django.urls import reverse

from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(reverse("metrics:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_with_csrf(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_login_then_land_on_home(client, rep):
    response = client.post(
        reverse("login"), {"username": "rep", "password": "pw-for-tests-1"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("metrics:home")
    assert "Hello, First" in response.content.decode()


def test_wrong_password_shows_an_error(client, rep):
    response = client.post(reverse("login"), {"username": "rep", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_logout_needs_post_and_ends_the_session(client, rep):
    client.force_login(rep)
    client.post(reverse("logout"))
    assert client.get(reverse("metrics:home")).status_code == 302


def test_home_lists_only_the_users_own_deals(client, rep, other_rep):
    DealFactory(owner=rep, name="Mine")
    DealFactory(owner=other_rep, name="Not mine")
    client.force_login(rep)
    page = client.get(reverse("metrics:home")).content.decode()
    assert "Mine" in page
    assert "Not mine" not in page


@pytest.mark.parametrize("deal_count", [1, 30])
def test_home_query_count_does_not_grow_with_deals(
    client, manager, rep, deal_count, django_assert_max_num_queries
):
    DealFactory.create_batch(deal_count, owner=rep)
    client.force_login(manager)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("metrics:home"))
    assert response.status_code == 200
