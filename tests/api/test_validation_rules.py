"""The API refuses what the pages refuse, with the same words, because each rule is written
once (pipeline.validators, pipeline.services): a close in the future, dates outside the
calendar's bounds (1900-01-01..2200-12-31), a stage of another pipeline, and the reserved
external id salesperf-<n>, whose holder the next import of an export would overwrite."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from pipeline.exports import deal_csv_lines
from pipeline.imports import import_deals
from pipeline.models import Deal
from pipeline.submissions import FIELD, form_token_issue
from pipeline.validators import IN_THE_FUTURE, OUT_OF_BOUNDS, RESERVED
from tests.api.conftest import url
from tests.factories import DealFactory, PipelineFactory, StageFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def create(client, **fields):
    return client.post(url("deal-list"), {"name": "Deal", **fields}, format="json")


def test_a_won_deal_closed_in_2099_is_refused(frozen, as_user, rep, stage):
    response = create(
        as_user(rep), stage=stage("Won").pk, closed_at="2099-01-01T00:00:00Z", amount="10"
    )
    assert response.status_code == 400
    assert response.json() == {"closed_at": [IN_THE_FUTURE]}
    # One second after now is the future too; now itself is not.
    response = create(as_user(rep), stage=stage("Won").pk, closed_at="2026-03-10T15:00:01Z")
    assert response.json() == {"closed_at": [IN_THE_FUTURE]}
    response = create(as_user(rep), stage=stage("Won").pk, closed_at="2026-03-10T15:00:00Z")
    assert response.status_code == 201
    assert Deal.objects.count() == 1


def test_a_close_moved_into_the_future_is_refused_too(frozen, as_user, rep, stage):
    deal = DealFactory(owner=rep, created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    response = as_user(rep).post(
        url("deal-move", deal.pk),
        {"stage": stage("Won").pk, "closed_at": "2026-04-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"closed_at": [IN_THE_FUTURE]}
    deal.refresh_from_db()
    assert deal.stage == stage("Prospecting")


@pytest.mark.parametrize(
    "fields",
    [
        {"created_at": "0001-01-01T00:00:00Z"},
        {"created_at": "1899-12-31T23:59:59Z"},
        {"expected_close_date": "9999-12-31"},
        {"expected_close_date": "2201-01-01"},
    ],
)
def test_dates_outside_the_calendar_are_refused(as_user, rep, fields):
    response = create(as_user(rep), **fields)
    assert response.status_code == 400
    assert response.json() == {next(iter(fields)): [OUT_OF_BOUNDS]}
    assert not Deal.objects.exists()


def test_the_calendars_own_ends_are_accepted(as_user, rep):
    response = create(
        as_user(rep), created_at="1900-01-01T00:00:00Z", expected_close_date="2200-12-31"
    )
    assert response.status_code == 201, response.json()


def test_a_patch_to_an_out_of_bounds_date_is_refused(as_user, rep, rep_deal):
    response = as_user(rep).patch(
        url("deal-detail", rep_deal.pk), {"expected_close_date": "9999-12-31"}, format="json"
    )
    assert response.json() == {"expected_close_date": [OUT_OF_BOUNDS]}


def test_a_new_deal_in_another_pipelines_stage_is_refused(as_user, rep):
    elsewhere = StageFactory(pipeline=PipelineFactory(name="Partners"))
    response = create(as_user(rep), stage=elsewhere.pk)
    assert response.status_code == 400
    assert response.json() == {"stage": ["That stage belongs to another pipeline."]}
    assert not Deal.objects.exists()


def test_a_patch_into_another_pipeline_is_refused(as_user, rep, rep_deal):
    elsewhere = StageFactory(pipeline=PipelineFactory(name="Partners"))
    response = as_user(rep).patch(
        url("deal-detail", rep_deal.pk), {"stage": elsewhere.pk}, format="json"
    )
    assert response.json() == {"stage": ["That stage belongs to another pipeline."]}


def test_the_deal_page_refuses_the_same_dates(client, rep, stage):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-create"),
        {
            "name": "Far",
            "company_name": "Acme",
            "stage": stage("Prospecting").pk,
            "expected_close_date": "9999-12-31",
            FIELD: form_token_issue(user=rep, kind="deal"),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"expected_close_date": [OUT_OF_BOUNDS]}
    response = client.post(
        reverse("pipeline:deal-quick-add"),
        {
            "name": "Far",
            "company_name": "Acme",
            "expected_close_date": "2201-01-01",
            FIELD: form_token_issue(user=rep, kind="deal"),
        },
    )
    assert response.context["quick_add_form"].errors == {"expected_close_date": [OUT_OF_BOUNDS]}
    assert not Deal.objects.exists()


def test_a_lead_cannot_be_entered_in_year_1(as_user, rep, company):
    response = as_user(rep).post(
        url("lead-list"),
        {"company": company.pk, "created_at": "0001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"created_at": [OUT_OF_BOUNDS]}


# --- The reserved external id -----------------------------------------------------------------


def test_a_rep_cannot_take_a_teammates_export_id(as_user, rep, other_rep):
    """The attack of issue 11, end to end: the rep's deal named salesperf-<teammate's deal>
    is refused, and the manager's export -> import round trip leaves both deals as they are."""
    theirs = DealFactory(owner=other_rep, name="Teammate's deal", amount=900)
    mine = DealFactory(owner=rep, name="Rep's deal", amount=5)
    client = as_user(rep)
    response = create(client, external_id=f"salesperf-{theirs.pk}")
    assert response.status_code == 400
    assert response.json() == {"external_id": [RESERVED]}
    response = client.patch(
        url("deal-detail", mine.pk), {"external_id": f"salesperf-{theirs.pk}"}, format="json"
    )
    assert response.json() == {"external_id": [RESERVED]}
    # Ids that merely look alike are anyone's.
    assert create(client, external_id=f"salesperf-{theirs.pk}-copy").status_code == 201

    before = sorted(Deal.objects.values_list("pk", "name", "owner_id", "amount", "external_id"))
    exported = "".join(deal_csv_lines(Deal.objects.all())).encode()
    assert f"salesperf-{theirs.pk},Teammate's deal" in exported.decode()
    result = import_deals(exported)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 3), result.errors
    after = sorted(Deal.objects.values_list("pk", "name", "owner_id", "amount", "external_id"))
    assert after == before


def test_a_deal_holding_a_reserved_id_from_before_is_renamed_and_round_trips(rep, other_rep):
    """Older imports stored salesperf-<n> as a deal's own id; the migration moves such ids
    under imported-, so the export names no two deals alike and the import takes no one's."""
    from django.apps import apps

    from pipeline.migrations import __name__ as package

    migration = __import__(f"{package}.0007_deal_lead_value_rules", fromlist=["x"])
    theirs = DealFactory(owner=other_rep, name="Teammate's deal")
    squatter = DealFactory(owner=rep, name="Rep's deal")
    Deal.objects.filter(pk=squatter.pk).update(external_id=f"salesperf-{theirs.pk}")
    migration.rename_reserved_external_ids(apps, None)
    squatter.refresh_from_db()
    assert squatter.external_id == f"imported-salesperf-{theirs.pk}"

    exported = "".join(deal_csv_lines(Deal.objects.all())).encode()
    result = import_deals(exported)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2), result.errors
    theirs.refresh_from_db()
    squatter.refresh_from_db()
    assert (theirs.name, theirs.owner) == ("Teammate's deal", other_rep)
    assert (squatter.name, squatter.owner) == ("Rep's deal", rep)


def test_the_admin_refuses_a_reserved_id(client, admin_user, rep_deal):
    client.force_login(admin_user)
    page = client.get(reverse("admin:pipeline_deal_change", args=[rep_deal.pk]))
    data = {key: value for key, value in page.context["adminform"].form.initial.items() if value}
    form = page.context["adminform"].form.__class__(
        {**data, "external_id": "salesperf-1"}, instance=rep_deal
    )
    assert form.errors["external_id"] == [RESERVED]
