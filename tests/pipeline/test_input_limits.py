"""What a user types is kept or refused in words, never cut: too long a name is a field
error saying how long it was, on the pages and in the API; inputs carry the model's
maxlength; and a deal needs no company, whether added in full or quickly."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from pipeline.models import Company, Deal, Lead
from pipeline.submissions import FIELD, form_token_issue
from tests.factories import default_stage

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOO_LONG = "x" * 10_000
SAID = "At most 200 characters (you entered 10,000)."


def token(user, kind: str = "deal") -> dict[str, str]:
    return {FIELD: form_token_issue(user=user, kind=kind)}


def test_new_deal_form_refuses_a_long_name_in_words_and_keeps_nothing(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-create"),
        {
            "name": TOO_LONG,
            "company_name": "Acme",
            "stage": default_stage("Prospecting").pk,
            **token(rep),
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["name"] == [SAID]
    assert not Deal.objects.exists() and not Company.objects.exists()


def test_quick_add_refuses_a_long_company_name_in_words(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-quick-add"),
        {"name": "Fine", "company_name": TOO_LONG, **token(rep)},
        **HTMX,
    )

    assert SAID in response.content.decode()
    assert not Deal.objects.exists()


def test_lead_form_refuses_a_long_contact_name_in_words(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:lead-create"),
        {"company_name": "Acme", "contact_name": TOO_LONG, **token(rep, "lead")},
    )

    assert response.context["form"].errors["contact_name"] == [SAID]
    assert not Lead.objects.exists()


def test_every_text_input_carries_the_models_maxlength(client, rep):
    client.force_login(rep)
    deal_form = client.get(reverse("pipeline:deal-create")).content.decode()
    lead_form = client.get(reverse("pipeline:lead-create")).content.decode()
    board = client.get(reverse("pipeline:deal-board")).content.decode()

    for page, name, limit in [
        (deal_form, "name", 200),
        (deal_form, "company_name", 200),
        (lead_form, "company_name", 200),
        (lead_form, "contact_name", 200),
        (lead_form, "contact_email", 254),
        (board, "name", 200),
        (board, "company_name", 200),
    ]:
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert f'maxlength="{limit}"' in tag, name


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("deal-list", {"name": TOO_LONG}, "name"),
        ("company-list", {"name": TOO_LONG}, "name"),
        ("lead-list", {"contact_name": TOO_LONG}, "contact_name"),
    ],
)
def test_api_refuses_a_long_text_in_the_same_words(rep, endpoint, body, field):
    api = APIClient()
    api.force_authenticate(rep)
    if endpoint == "lead-list":
        body = {**body, "company": Company.objects.create(name="Acme").pk}
    response = api.post(reverse(endpoint), body, format="json")

    assert response.status_code == 400
    assert response.json()[field] == [SAID]
    assert not Deal.objects.exists() and not Lead.objects.exists()
    assert not Company.objects.exclude(name="Acme").exists()


@pytest.mark.parametrize("htmx", [True, False])
def test_quick_add_takes_a_deal_without_a_company_like_the_full_form(client, rep, htmx):
    client.force_login(rep)
    client.post(
        reverse("pipeline:deal-quick-add"),
        {"name": "Company later", "company_name": "", **token(rep)},
        **(HTMX if htmx else {}),
    )
    client.post(
        reverse("pipeline:deal-create"),
        {"name": "Full, no company", "stage": default_stage("Prospecting").pk, **token(rep)},
    )

    deals = Deal.objects.order_by("pk")
    assert [(deal.name, deal.company) for deal in deals] == [
        ("Company later", None),
        ("Full, no company", None),
    ]


def test_quick_add_company_input_is_not_required(client, rep):
    client.force_login(rep)
    board = client.get(reverse("pipeline:deal-board")).content.decode()
    company_input = board.split('id="quick-add-company"')[1].split(">")[0]

    assert "required" not in company_input
