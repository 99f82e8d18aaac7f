"""The admin goes through the same validation and the same stage-move service."""

import datetime as dt

import pytest
from django.apps import apps
from django.urls import reverse

from pipeline.models import Deal, StageChange
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    ProductFactory,
    StageChangeFactory,
    TargetFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


def deal_form(deal_or_none=None, **changes) -> dict:
    """The POST body of the deal change form, as the browser sends it."""
    deal = deal_or_none
    data = {
        "name": deal.name if deal else "Big one",
        "company": deal.company_id if deal else "",
        "owner": deal.owner_id if deal else "",
        "product": "",
        "lead": "",
        "stage": deal.stage_id if deal else default_stage("Prospecting").pk,
        "amount": str(deal.amount) if deal else "1000.00",
        "expected_close_date": "",
        "created_at_0": deal.created_at.strftime("%Y-%m-%d") if deal else "2026-01-05",
        "created_at_1": deal.created_at.strftime("%H:%M:%S") if deal else "10:00:00",
        "closed_at_0": "",
        "closed_at_1": "",
        "lost_reason": "",
        "external_id": "",
        "stage_changes-TOTAL_FORMS": "0",
        "stage_changes-INITIAL_FORMS": "0",
        "stage_changes-MIN_NUM_FORMS": "0",
        "stage_changes-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_negative_amount_shows_a_field_error_and_saves_nothing(admin_client_, rep):
    response = admin_client_.post(
        reverse("admin:pipeline_deal_add"), deal_form(owner=rep.pk, amount="-5")
    )
    assert response.status_code == 200
    assert "amount" in response.context["adminform"].form.errors
    assert Deal.objects.count() == 0


def test_won_without_close_date_shows_a_field_error(admin_client_, rep):
    response = admin_client_.post(
        reverse("admin:pipeline_deal_add"),
        deal_form(owner=rep.pk, stage=default_stage("Won").pk),
    )
    errors = response.context["adminform"].form.errors
    assert errors["closed_at"] == ["A won deal needs a close date."]
    assert Deal.objects.count() == 0


def test_close_date_before_creation_shows_a_field_error(admin_client_, rep):
    response = admin_client_.post(
        reverse("admin:pipeline_deal_add"),
        deal_form(
            owner=rep.pk,
            stage=default_stage("Lost").pk,
            closed_at_0="2026-01-04",
            closed_at_1="10:00:00",
        ),
    )
    errors = response.context["adminform"].form.errors
    assert errors["closed_at"] == ["A deal cannot close before it was created."]
    assert Deal.objects.count() == 0


def test_moving_a_deal_through_three_stages_in_the_admin_leaves_three_changes(
    admin_client_, admin_user, rep
):
    deal = DealFactory(owner=rep, company=CompanyFactory())
    url = reverse("admin:pipeline_deal_change", args=[deal.pk])
    for name in ["Qualification", "Proposal", "Negotiation"]:
        deal.refresh_from_db()
        response = admin_client_.post(url, deal_form(deal, stage=default_stage(name).pk))
        assert response.status_code == 302, response.context["adminform"].form.errors

    changes = StageChange.objects.filter(deal=deal).order_by("changed_at", "id")
    assert [(c.from_stage.name, c.to_stage.name) for c in changes] == [
        ("Prospecting", "Qualification"),
        ("Qualification", "Proposal"),
        ("Proposal", "Negotiation"),
    ]
    assert {c.changed_by for c in changes} == {admin_user}
    page = admin_client_.get(url).content.decode()
    assert page.count("Negotiation") >= 2  # the stage select and the history inline


def test_winning_in_the_admin_records_the_move_at_the_close_date(admin_client_, rep):
    deal = DealFactory(owner=rep, created_at=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC))
    response = admin_client_.post(
        reverse("admin:pipeline_deal_change", args=[deal.pk]),
        deal_form(
            deal,
            stage=default_stage("Won").pk,
            closed_at_0="2026-02-01",
            closed_at_1="12:00:00",
        ),
    )
    assert response.status_code == 302
    change = StageChange.objects.get(deal=deal)
    assert change.to_stage.name == "Won"
    assert change.changed_at == dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)


def test_stage_history_cannot_be_edited_or_deleted_in_the_admin(admin_client_, rep):
    change = StageChangeFactory(deal=DealFactory(owner=rep))
    url = reverse("admin:pipeline_stagechange_delete", args=[change.pk])
    assert admin_client_.post(url, {"post": "yes"}).status_code == 403
    assert StageChange.objects.filter(pk=change.pk).exists()


def test_every_model_has_a_changelist_that_loads_in_bounded_queries(
    admin_client_, rep, django_assert_max_num_queries
):
    for month in range(1, 6):
        deal = DealFactory(owner=rep, product=ProductFactory(), lead=LeadFactory(owner=rep))
        StageChangeFactory(deal=deal)
        TargetFactory(user=rep, period_kind="month", period_start=dt.date(2026, month, 1))
    for app_label in ["accounts", "pipeline", "metrics"]:
        for model in apps.get_app_config(app_label).get_models():
            if model._meta.model_name.startswith("historical"):
                continue  # the audit trail is read on each model's History page
            url = reverse(f"admin:{app_label}_{model._meta.model_name}_changelist")
            with django_assert_max_num_queries(12):
                response = admin_client_.get(url)
            assert response.status_code == 200, url


def test_admin_search_and_autocomplete_find_a_company(admin_client_):
    CompanyFactory(name="Globex Corporation")
    response = admin_client_.get(reverse("admin:pipeline_company_changelist"), {"q": "globex"})
    assert "Globex Corporation" in response.content.decode()
    response = admin_client_.get(
        reverse("admin:autocomplete"),
        {"app_label": "pipeline", "model_name": "deal", "field_name": "company", "term": "glo"},
    )
    assert [r["text"] for r in response.json()["results"]] == ["Globex Corporation"]


def test_reps_cannot_open_the_admin(client, rep):
    client.force_login(rep)
    response = client.get(reverse("admin:pipeline_deal_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
