"""The 403 and 404 pages sit in the site's layout: the nav for a signed-in user, a way
home, the server's reason for a 403, and one plain sentence for a 404 that does not tell a
missing row from someone else's (accounts.access: not yours is a 404)."""

import pytest
from django.urls import reverse

from tests.factories import DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


def main_of(response) -> str:
    return response.content.decode().split("<main")[1]


def get(client, user, path: str):
    client.force_login(user)
    return client.get(path)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("metrics:targets", "Only managers and admins set targets."),
        ("pipeline:import", "Only managers and admins import data."),
    ],
)
def test_a_rep_refused_a_page_gets_the_reason_inside_the_layout(client, rep, team, name, reason):
    response = get(client, rep, reverse(name))
    html = response.content.decode()
    assert response.status_code == 403
    assert reason in html
    assert '<nav class="nav" aria-label="Main">' in html
    assert f'href="{reverse("metrics:team-dashboard", args=[team.pk])}"' in html  # My team
    assert f'href="{reverse("metrics:home")}"' in html
    assert "css/app.css" in html


def test_another_reps_deal_looks_exactly_like_a_missing_one(client, rep, other_rep):
    theirs = DealFactory(owner=other_rep, name="Not yours")
    missing = get(client, rep, reverse("pipeline:deal-detail", args=[theirs.pk + 1000]))
    hidden = get(client, rep, reverse("pipeline:deal-detail", args=[theirs.pk]))
    assert (missing.status_code, hidden.status_code) == (404, 404)
    # The same page word for word (the CSRF token in the header aside).
    assert main_of(hidden) == main_of(missing)
    assert b"Not yours" not in hidden.content
    assert b"Page not found" in hidden.content and b'aria-label="Main"' in hidden.content


def test_another_reps_lead_and_an_unknown_address_get_the_styled_404(client, rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    for path in (reverse("pipeline:lead-convert", args=[lead.pk]), "/no/such/page/"):
        response = get(client, rep, path)
        assert response.status_code == 404
        assert b"There is no page at this address that you can open." in response.content
        assert b'aria-label="Main"' in response.content


def test_an_anonymous_visitor_gets_the_404_without_a_nav(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b'aria-label="Main"' not in response.content
