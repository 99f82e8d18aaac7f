"""An expected close in the past is saved (a rep records back-dated and imported deals as
they were) with a warning that the deal now shows as overdue: for a new deal, and for an
edit that moves the date into the past. The API accepts it silently (docs/api.md)."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from pipeline.models import Deal
from pipeline.submissions import FIELD, form_token_issue
from tests.factories import DealFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

PAST = dt.date(2026, 1, 2)
WARNING = "Expected close 2 Jan 2026 is in the past: the deal shows as overdue"


def token(user, kind: str = "deal") -> dict[str, str]:
    return {FIELD: form_token_issue(user=user, kind=kind)}


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def new_deal(client, rep, expected_close: dt.date):
    return client.post(
        reverse("pipeline:deal-create"),
        {
            "name": "Back-dated",
            "stage": default_stage("Prospecting").pk,
            "expected_close_date": expected_close.isoformat(),
            **token(rep),
        },
    )


def test_new_deal_with_a_past_close_is_saved_with_a_warning(client, rep):
    client.force_login(rep)
    response = new_deal(client, rep, PAST)

    assert Deal.objects.get().expected_close_date == PAST
    assert any(WARNING in message for message in said(response))
    page = client.get(response["Location"]).content.decode()
    assert WARNING in page


def test_new_deal_closing_today_or_later_gets_no_warning(client, rep):
    client.force_login(rep)
    response = new_deal(client, rep, timezone.localdate())

    assert Deal.objects.count() == 1
    assert not any("in the past" in message for message in said(response))


def edit(client, deal, **changes):
    data = {
        "name": deal.name,
        "amount": "10",
        "expected_close_date": deal.expected_close_date.isoformat(),
        "product": "",
        "version": deal.version,
        **changes,
    }
    return client.post(reverse("pipeline:deal-detail", args=[deal.pk]), data)


def test_moving_the_expected_close_into_the_past_warns(client, rep):
    deal = DealFactory(owner=rep, expected_close_date=timezone.localdate() + dt.timedelta(9))
    client.force_login(rep)
    response = edit(client, deal, expected_close_date=PAST.isoformat())

    deal.refresh_from_db()
    assert deal.expected_close_date == PAST
    assert any(WARNING in message for message in said(response))


def test_editing_another_field_of_an_overdue_deal_does_not_repeat_the_warning(client, rep):
    deal = DealFactory(owner=rep, expected_close_date=PAST)
    client.force_login(rep)
    response = edit(client, deal, name="Renamed")

    assert said(response) == ["Changes saved."]


def test_quick_add_says_so_in_its_answer(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-quick-add"),
        {"name": "Quick", "expected_close_date": PAST.isoformat(), **token(rep)},
        HTTP_HX_REQUEST="true",
    )

    assert Deal.objects.get().expected_close_date == PAST
    assert WARNING in response.content.decode()


def test_converting_a_lead_with_a_past_close_warns(client, rep):
    lead = LeadFactory(owner=rep)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:lead-convert", args=[lead.pk]),
        {"deal_name": "From lead", "expected_close_date": PAST.isoformat()},
    )

    assert Deal.objects.get().expected_close_date == PAST
    assert any(WARNING in message for message in said(response))


def test_api_accepts_a_past_expected_close(rep):
    api = APIClient()
    api.force_authenticate(rep)
    response = api.post(
        reverse("deal-list"),
        {"name": "Imported", "expected_close_date": PAST.isoformat()},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["expected_close_date"] == PAST.isoformat()
