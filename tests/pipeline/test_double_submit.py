"""Create forms carry a one-time token: the same form sent twice saves one row and the
second answer shows that row; a token is the user's own and survives a validation error."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from pipeline.models import Deal, FormSubmission, Lead
from pipeline.submissions import (
    FIELD,
    REFUSED,
    AlreadySubmitted,
    form_submissions_prune,
    form_token_issue,
    submit_once,
)
from tests.factories import DealFactory, LeadSourceFactory, default_stage

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def page_token(client, url: str) -> str:
    """The token of the form on the page, as the browser would send it back."""
    html = client.get(url).content.decode()
    [value] = re.findall(rf'name="{FIELD}" value="([^"]+)"', html)
    return value


def deal_data(token: str, **extra) -> dict:
    return {
        "name": "Acme – 50 seats",
        "company_name": "Acme",
        "amount": "1000",
        "stage": default_stage("Prospecting").pk,
        FIELD: token,
        **extra,
    }


def test_a_deal_form_sent_twice_saves_one_deal_and_shows_it_the_second_time(client, rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    data = deal_data(page_token(client, url))
    first = client.post(url, data)
    second = client.post(url, data)
    deal = Deal.objects.get()
    assert (
        first["Location"] == second["Location"] == reverse("pipeline:deal-detail", args=[deal.pk])
    )
    page = client.get(second["Location"]).content.decode()
    assert "This form was sent twice; it was saved once." in page


def test_two_forms_save_two_deals(client, rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    client.post(url, deal_data(page_token(client, url)))
    client.post(url, deal_data(page_token(client, url)))
    assert Deal.objects.count() == 2


def test_a_token_of_another_user_or_none_is_refused(client, rep, other_rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    for token in (form_token_issue(user=other_rep, kind="deal"), "", "forged:abc"):
        response = client.post(url, deal_data(token))
        assert response.status_code == 200
        assert REFUSED in response.content.decode()
    # A lead form's token does not fit the deal form either.
    response = client.post(url, deal_data(form_token_issue(user=rep, kind="lead")))
    assert REFUSED in response.content.decode()
    assert Deal.objects.count() == 0
    assert FormSubmission.objects.count() == 0


def test_a_form_shown_again_after_an_error_keeps_its_token(client, rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    token = page_token(client, url)
    refused = client.post(url, deal_data(token, amount="-5"))
    assert refused.status_code == 200
    assert f'name="{FIELD}" value="{token}"' in refused.content.decode()
    assert FormSubmission.objects.count() == 0  # the refused save gave its claim back
    saved = client.post(url, deal_data(token))
    again = client.post(url, deal_data(token))
    deal = Deal.objects.get()
    assert saved["Location"] == again["Location"] == reverse("pipeline:deal-detail", args=[deal.pk])


def test_quick_add_sent_twice_saves_one_deal(client, rep):
    client.force_login(rep)
    token = page_token(client, reverse("metrics:my-performance"))  # the dashboard's form
    data = {"name": "Fast one", "company_name": "Speedy Ltd", "amount": "900", FIELD: token}
    url = reverse("pipeline:deal-quick-add")
    first = client.post(url, data, **HTMX)
    second = client.post(url, data, **HTMX)
    deal = Deal.objects.get()
    link = reverse("pipeline:deal-detail", args=[deal.pk])
    for response in (first, second):
        body = response.content.decode()
        assert "Added" in body and link in body
        # The empty form for the next deal has a new token.
        assert f'value="{token}"' not in body
    assert client.post(url, data)["Location"] == link  # without htmx: the deal's page
    assert Deal.objects.count() == 1


def test_a_lead_form_sent_twice_saves_one_lead(client, rep):
    source = LeadSourceFactory(name="Referral")
    client.force_login(rep)
    url = reverse("pipeline:lead-create")
    data = {
        "company_name": "Known Co",
        "contact_name": "Jo",
        "source": source.pk,
        FIELD: page_token(client, url),
    }
    first = client.post(url, data)
    second = client.post(url, data)
    assert first["Location"] == second["Location"] == reverse("pipeline:lead-list")
    assert Lead.objects.count() == 1
    assert (
        client.post(url, {**data, FIELD: form_token_issue(user=rep, kind="deal")}).status_code
        == 200
    )
    assert Lead.objects.count() == 1


def test_the_second_claim_of_a_token_gets_the_first_row(rep):
    """What two web processes racing with one token meet: the unique token lets one insert
    through; the other, once the first has committed, learns the row it made."""
    first = submit_once(nonce="n1", user=rep, kind="deal", save=lambda: DealFactory(owner=rep))
    with pytest.raises(AlreadySubmitted) as second:
        submit_once(nonce="n1", user=rep, kind="deal", save=lambda: DealFactory(owner=rep))
    assert second.value.object_id == first.pk
    assert Deal.objects.count() == 1


def test_a_token_older_than_a_week_is_refused_and_its_form_shown_again(client, rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC), tick=False):
        token = page_token(client, url)
    with time_machine.travel(dt.datetime(2026, 3, 9, 10, tzinfo=dt.UTC), tick=False):
        response = client.post(url, deal_data(token))
    assert response.status_code == 200  # the form again, with a fresh token
    assert REFUSED in response.content.decode()
    assert not Deal.objects.exists()
    [fresh] = re.findall(rf'name="{FIELD}" value="([^"]+)"', response.content.decode())
    assert fresh != token


def test_the_prune_forgets_expired_claims_only_and_their_tokens_stay_refused(client, rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    sent = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    with time_machine.travel(sent, tick=False):
        old = deal_data(page_token(client, url))
        client.post(url, old)
    with time_machine.travel(sent + dt.timedelta(days=7), tick=False):
        recent = deal_data(page_token(client, url), name="Recent")
        client.post(url, recent)
    assert FormSubmission.objects.count() == 2
    # Seven days and an hour after the first: only its claim goes.
    assert form_submissions_prune(now=sent + dt.timedelta(days=7, hours=1, minutes=1)) == 1
    assert list(FormSubmission.objects.values_list("object_id", flat=True)) == [
        Deal.objects.get(name="Recent").pk
    ]
    with time_machine.travel(sent + dt.timedelta(days=7, hours=2), tick=False):
        again = client.post(url, old)  # its claim is gone, its age refuses it
    assert REFUSED in again.content.decode()
    assert Deal.objects.count() == 2
