"""Soft delete of deals and leads: a deleted row is hidden from every page, list, board,
export, API answer and KPI, stays in its table with its history, and an admin restores it
exactly as it was."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from metrics.kpis import end_of_day, kpis_for_scope
from metrics.models import KPISnapshot
from metrics.services import kpi_snapshot_create
from pipeline.imports import import_deals
from pipeline.models import Deal, Lead
from pipeline.services import (
    deal_delete,
    deal_restore,
    deal_save,
    lead_delete,
    lead_restore,
)
from tests.factories import DealFactory, LeadFactory, UserFactory, default_stage

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def deals(rep, frozen):
    """Two wins and one open deal of the rep's, in March 2026."""
    won = default_stage("Won")
    return {
        "small_win": DealFactory(
            owner=rep, name="Small win", stage=won, amount=Decimal("1000"),
            created_at=at(2), closed_at=at(5),
        ),
        "big_win": DealFactory(
            owner=rep, name="Big win", stage=won, amount=Decimal("2500"),
            created_at=at(3), closed_at=at(6),
        ),
        "open": DealFactory(
            owner=rep, name="Open one", amount=Decimal("400"), created_at=at(4),
        ),
    }  # fmt: skip


def rep_kpis(rep):
    return kpis_for_scope(kind="user", scope_id=rep.pk, as_of=end_of_day(MARCH["end"]), **MARCH)


def test_a_deleted_won_deal_leaves_the_kpis_and_a_restore_brings_them_back(rep, admin_user, deals):
    before = rep_kpis(rep)
    # Revenue 1000 + 2500 = 3500 from two wins; three deals opened in March.
    assert (before.revenue, before.deals_won, before.opportunities_created) == (
        Decimal("3500.00"),
        2,
        3,
    )
    deal_delete(deal=deals["big_win"], by=rep)
    after = rep_kpis(rep)
    # Without the 2500 win: revenue 1000, one win of 1000 on average, two deals opened.
    assert after.revenue == Decimal("1000.00")
    assert after.deals_won == 1
    assert after.avg_deal_size == Decimal("1000.00")
    assert after.opportunities_created == 2
    deal_restore(deal=deals["big_win"], by=admin_user)
    assert rep_kpis(rep) == before


def test_snapshots_do_not_count_a_deleted_deal(rep, deals):
    deal_delete(deal=deals["big_win"], by=rep)
    kpi_snapshot_create(day=NOW.date())
    row = KPISnapshot.objects.get(
        date=NOW.date(), scope_kind="user", scope_id=rep.pk, period_kind="month"
    )
    assert row.revenue == Decimal("1000.00")
    assert row.deals_won == 1


def test_a_deleted_deal_vanishes_from_pages_board_and_export(client, rep, deals):
    client.force_login(rep)
    deal = deals["open"]
    assert "Open one" in client.get(reverse("pipeline:deal-board")).content.decode()
    response = client.post(reverse("pipeline:deal-delete", args=[deal.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:deal-list")
    listed = client.get(reverse("pipeline:deal-list"))  # after the "deleted" message
    assert [row.pk for row in listed.context["page_obj"]] == [
        deals["big_win"].pk,
        deals["small_win"].pk,
    ]
    assert "Open one" not in client.get(reverse("pipeline:deal-list")).content.decode()
    assert "Open one" not in client.get(reverse("pipeline:deal-board")).content.decode()
    assert client.get(reverse("pipeline:deal-detail", args=[deal.pk])).status_code == 404
    export = client.get(reverse("pipeline:deal-export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(row["name"] for row in rows) == ["Big win", "Small win"]
    stored = Deal.all_objects.get(pk=deal.pk)
    assert stored.deleted_by == rep
    assert stored.deleted_at == NOW


def test_a_deleted_deal_vanishes_from_the_api(client, rep, deals):
    client.force_login(rep)
    deal = deals["small_win"]
    deal_delete(deal=deal, by=rep)
    listed = client.get("/api/v1/deals/").json()
    assert deal.pk not in {row["id"] for row in listed["results"]}
    assert client.get(f"/api/v1/deals/{deal.pk}/").status_code == 404
    assert client.get(f"/api/v1/deals/{deal.pk}/history/").status_code == 404
    kpis = client.get(
        "/api/v1/kpis/", {"scope": "user", "id": rep.pk, "start": "2026-03-01", "end": "2026-03-31"}
    ).json()
    assert kpis["revenue"] == "2500.00"


def test_the_dashboard_does_not_count_a_deleted_deal(client, rep, deals):
    client.force_login(rep)
    page = reverse("metrics:my-performance") + "?period=month&start=2026-03-01"

    def revenue() -> Decimal:
        return client.get(page).context["dashboard"].comparison.kpis.revenue

    assert revenue() == Decimal("3500.00")
    deal_delete(deal=deals["big_win"], by=rep)
    assert revenue() == Decimal("1000.00")


def test_the_delete_page_asks_first_and_changes_nothing(client, rep, deals):
    client.force_login(rep)
    deal = deals["open"]
    response = client.get(reverse("pipeline:deal-delete", args=[deal.pk]))
    assert response.status_code == 200
    assert "Delete this deal?" in response.content.decode()
    assert Deal.objects.filter(pk=deal.pk).exists()


@pytest.mark.parametrize("persona", ["other_rep", "outsider_rep"])
def test_a_rep_cannot_delete_another_reps_deal(client, request, rep, persona, deals):
    client.force_login(request.getfixturevalue(persona))
    deal = deals["open"]
    assert client.post(reverse("pipeline:deal-delete", args=[deal.pk])).status_code == 404
    assert client.delete(f"/api/v1/deals/{deal.pk}/").status_code == 404
    assert Deal.objects.filter(pk=deal.pk).exists()


def test_a_manager_of_another_team_cannot_delete(client, rep, other_team, deals):
    south_manager = UserFactory(username="south_manager", team=other_team, role="manager")
    other_team.manager = south_manager
    other_team.save()
    client.force_login(south_manager)
    deal = deals["open"]
    assert client.post(reverse("pipeline:deal-delete", args=[deal.pk])).status_code == 404
    assert client.delete(f"/api/v1/deals/{deal.pk}/").status_code == 404
    assert Deal.objects.filter(pk=deal.pk).exists()


def test_the_reps_manager_may_delete(client, manager, deals):
    client.force_login(manager)
    deal = deals["open"]
    assert client.post(reverse("pipeline:deal-delete", args=[deal.pk])).status_code == 302
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_only_an_admin_restores(rep, manager, admin_user, deals):
    deal = deal_delete(deal=deals["open"], by=rep)
    for user in (rep, manager):
        with pytest.raises(PermissionDenied):
            deal_restore(deal=deal, by=user)
    assert not Deal.objects.filter(pk=deal.pk).exists()
    restored = deal_restore(deal=deal, by=admin_user)
    assert restored.deleted_at is None and restored.deleted_by is None
    assert Deal.objects.filter(pk=deal.pk).exists()


def test_nothing_is_ever_removed_from_the_tables(client, rep, deals):
    lead = LeadFactory(owner=rep)
    client.force_login(rep)
    for deal in deals.values():
        client.delete(f"/api/v1/deals/{deal.pk}/")
    client.delete(f"/api/v1/leads/{lead.pk}/")
    assert Deal.objects.count() == 0 and Lead.objects.count() == 0
    assert Deal.all_objects.count() == 3 and Lead.all_objects.count() == 1
    # Each delete left a history row saying who and when.
    record = Deal.history.filter(id=deals["open"].pk).latest()
    assert record.deleted_at is not None and record.history_user == rep


def test_the_admin_lists_deleted_deals_and_restores_them(client, rep, admin_user, deals):
    deal = deal_delete(deal=deals["open"], by=rep)
    client.force_login(admin_user)
    changelist = reverse("admin:pipeline_deal_changelist")
    listed = client.get(changelist, {"deleted": "yes"}).content.decode()
    assert "Open one" in listed and "Small win" not in listed
    response = client.post(
        changelist, {"action": "restore", "_selected_action": [deal.pk]}, follow=True
    )
    assert response.status_code == 200
    assert Deal.objects.filter(pk=deal.pk).exists()
    # No hard delete in the admin
    assert "delete_selected" not in client.get(changelist).content.decode()


def test_an_import_row_naming_a_deleted_deal_is_refused(rep, admin_user, frozen):
    deal = DealFactory(owner=rep, external_id="CRM-7", name="Imported once")
    deal_delete(deal=deal, by=rep)
    header = "external_id,name,company,owner,stage,amount,created_at,closed_at,"
    header += "expected_close_date,lead_source,product\n"
    row = "CRM-7,Imported again,Acme,rep,Prospecting,10,2026-03-01,,,,\n"
    result = import_deals(io.StringIO(header + row), by=admin_user)
    assert not result.written
    assert [error.message for error in result.errors] == [
        "Deal CRM-7 was deleted; an admin can restore it."
    ]
    assert Deal.all_objects.filter(external_id="CRM-7").count() == 1


def test_a_new_deal_cannot_take_the_external_id_of_a_deleted_one(rep):
    deal_delete(deal=DealFactory(owner=rep, external_id="CRM-8"), by=rep)
    with pytest.raises(ValidationError) as error:
        deal_save(deal=Deal(name="Twin", owner=rep, stage=default_stage("Prospecting"),
                            external_id="CRM-8"), by=rep)  # fmt: skip
    assert error.value.message_dict == {
        "external_id": ["Deal CRM-8 was deleted; an admin can restore it."]
    }


def test_a_deleted_lead_vanishes_and_an_admin_restores_it(client, rep, admin_user, frozen):
    lead = LeadFactory(owner=rep, contact_name="Jane Roe", created_at=at(2))
    kpis = rep_kpis(rep)
    assert kpis.leads_created == 1
    client.force_login(rep)
    confirm = client.get(reverse("pipeline:lead-delete", args=[lead.pk]))
    assert confirm.status_code == 200
    assert client.post(reverse("pipeline:lead-delete", args=[lead.pk])).status_code == 302
    assert "Jane Roe" not in client.get(reverse("pipeline:lead-list")).content.decode()
    assert client.get(f"/api/v1/leads/{lead.pk}/").status_code == 404
    assert rep_kpis(rep).leads_created == 0
    with pytest.raises(PermissionDenied):
        lead_restore(lead=lead, by=rep)
    lead_restore(lead=lead, by=admin_user)
    assert rep_kpis(rep) == kpis


def test_a_rep_cannot_delete_another_reps_lead(client, rep, other_rep):
    lead = LeadFactory(owner=rep)
    client.force_login(other_rep)
    assert client.post(reverse("pipeline:lead-delete", args=[lead.pk])).status_code == 404
    assert client.delete(f"/api/v1/leads/{lead.pk}/").status_code == 404
    with pytest.raises(PermissionDenied):
        lead_delete(lead=lead, by=other_rep)
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_a_deal_of_a_deleted_lead_still_shows_its_lead(client, rep):
    lead = LeadFactory(owner=rep)
    deal = DealFactory(owner=rep, lead=lead)
    lead_delete(lead=lead, by=rep)
    deal = Deal.objects.get(pk=deal.pk)
    assert deal.lead == lead  # forward links use the base manager, which sees it
    client.force_login(rep)
    assert client.get(reverse("pipeline:deal-detail", args=[deal.pk])).status_code == 200
