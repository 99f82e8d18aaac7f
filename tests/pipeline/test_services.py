"""Stage moves and lead conversion, through the one service every caller uses."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from pipeline.choices import LeadStatus
from pipeline.models import Company, Deal, StageChange
from pipeline.services import (
    deal_create,
    deal_move_to_stage,
    deal_save,
    lead_convert,
    lead_set_status,
)
from tests.factories import (
    DealFactory,
    LeadFactory,
    PipelineFactory,
    StageFactory,
    TeamFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


def test_each_move_records_one_stage_change_with_who_and_when(rep, manager):
    deal = DealFactory(owner=rep, created_at=T0)
    for offset, name in enumerate(["Qualification", "Proposal", "Negotiation"], start=1):
        deal_move_to_stage(deal=deal, stage=default_stage(name), by=manager, at=T0 + offset * DAY)

    moves = list(
        StageChange.objects.filter(deal=deal).values_list(
            "from_stage__name", "to_stage__name", "changed_at", "changed_by__username"
        )
    )
    assert moves == [
        ("Prospecting", "Qualification", T0 + DAY, "manager"),
        ("Qualification", "Proposal", T0 + 2 * DAY, "manager"),
        ("Proposal", "Negotiation", T0 + 3 * DAY, "manager"),
    ]


def test_winning_sets_closed_at_amount_and_freezes_team(rep):
    deal = DealFactory(owner=rep, created_at=T0)
    deal_move_to_stage(deal=deal, stage=default_stage("Won"), at=T0 + 3 * DAY, amount=Decimal("42"))
    deal.refresh_from_db()
    assert (deal.stage.name, deal.closed_at, deal.amount, deal.team) == (
        "Won",
        T0 + 3 * DAY,
        Decimal("42.00"),
        rep.team,
    )
    # The rep moves team later: the closed deal keeps the team it was won in.
    rep.team = TeamFactory(name="Elsewhere")
    rep.save()
    deal.name = "renamed"
    deal_save(deal=deal)
    deal.refresh_from_db()
    assert deal.team.name == "Team North"


def test_losing_keeps_the_reason_and_reopening_clears_it(rep):
    deal = DealFactory(owner=rep, created_at=T0)
    deal_move_to_stage(deal=deal, stage=default_stage("Lost"), at=T0 + DAY, lost_reason="Price")
    deal.refresh_from_db()
    assert (deal.closed_at, deal.lost_reason) == (T0 + DAY, "Price")

    deal_move_to_stage(deal=deal, stage=default_stage("Negotiation"), at=T0 + 2 * DAY)
    deal.refresh_from_db()
    assert (deal.stage.name, deal.closed_at, deal.lost_reason) == ("Negotiation", None, "")
    assert StageChange.objects.filter(deal=deal).count() == 2


def test_moving_to_the_same_stage_records_nothing(rep):
    deal = DealFactory(owner=rep)
    deal_move_to_stage(deal=deal, stage=default_stage("Prospecting"))
    assert StageChange.objects.count() == 0


def test_closing_before_creation_is_a_validation_error_and_writes_nothing(rep):
    deal = DealFactory(owner=rep, created_at=T0)
    with pytest.raises(ValidationError) as error:
        deal_move_to_stage(deal=deal, stage=default_stage("Won"), at=T0 - DAY)
    assert "closed_at" in error.value.message_dict
    assert StageChange.objects.count() == 0
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"


def test_new_deal_takes_its_owner_team_and_records_no_move(rep):
    deal = deal_save(
        deal=Deal(name="New", owner=rep, stage=default_stage("Prospecting"), created_at=T0)
    )
    assert deal.team == rep.team
    assert StageChange.objects.count() == 0


def test_converting_a_lead_creates_an_open_deal_at_the_first_stage(rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, created_at=T0)
    deal = lead_convert(lead=lead, amount=Decimal("5000"), at=T0 + 2 * DAY, by=rep)
    lead.refresh_from_db()
    assert (lead.status, lead.converted_at) == (LeadStatus.CONVERTED, T0 + 2 * DAY)
    assert (deal.lead, deal.company, deal.owner, deal.stage.name) == (
        lead,
        lead.company,
        rep,
        "Prospecting",
    )
    assert (deal.created_at, deal.amount) == (T0 + 2 * DAY, Decimal("5000"))


def test_a_lead_is_converted_once(rep):
    lead = LeadFactory(owner=rep, created_at=T0)
    lead_convert(lead=lead, at=T0 + DAY)
    with pytest.raises(ValidationError):
        lead_convert(lead=lead, at=T0 + 2 * DAY)
    assert Deal.objects.filter(lead=lead).count() == 1


def test_disqualified_lead_keeps_its_reason_and_cannot_convert(rep):
    lead = LeadFactory(owner=rep)
    lead_set_status(lead=lead, status=LeadStatus.DISQUALIFIED, reason="No budget")
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == (LeadStatus.DISQUALIFIED, "No budget")
    with pytest.raises(ValidationError):
        lead_convert(lead=lead)


# --- deal_create: the one set of new-deal defaults ------------------------------------------


def test_a_new_deal_defaults_to_its_creator_the_first_open_stage_and_now(rep):
    moment = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        deal = deal_create(by=rep, name="Fresh", company_name="  Acme   Corp ")
    assert (deal.owner, deal.team, deal.stage) == (rep, rep.team, default_stage("Prospecting"))
    assert (deal.created_at, deal.closed_at, deal.amount) == (moment, None, Decimal("0"))
    assert deal.company.name == "Acme Corp"
    assert not StageChange.objects.exists()


def test_a_new_deal_created_won_closes_now(rep):
    moment = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        deal = deal_create(by=rep, name="Signed", stage=default_stage("Won"), amount=Decimal(9))
    assert deal.closed_at == moment


def test_a_new_deal_finds_its_company_whatever_the_case_and_spacing(rep):
    first = deal_create(by=rep, name="One", company_name="Acme Corp")
    second = deal_create(by=rep, name="Two", company_name=" acme   CORP")
    assert second.company == first.company
    assert Company.objects.count() == 1


def test_a_refused_deal_leaves_no_new_company(rep):
    with pytest.raises(ValidationError) as refused:
        deal_create(
            by=rep, name="Late", company_name="Ghost Co", expected_close_date=dt.date(9999, 1, 1)
        )
    assert list(refused.value.message_dict) == ["expected_close_date"]
    assert not Company.objects.filter(name="Ghost Co").exists()


def test_a_new_deal_stays_in_the_pipeline_it_is_created_in(rep):
    partners = PipelineFactory(name="Partners")
    first = StageFactory(pipeline=partners, name="Intro", order=1)
    deal = deal_create(by=rep, name="Partner deal", pipeline=partners)
    assert deal.stage == first
    with pytest.raises(ValidationError) as refused:
        deal_create(by=rep, name="Mixed", pipeline=partners, stage=default_stage("Proposal"))
    assert refused.value.message_dict == {"stage": ["That stage belongs to another pipeline."]}


def test_an_edit_cannot_move_a_deal_into_another_pipeline(rep):
    deal = DealFactory(owner=rep)
    deal.stage = StageFactory(pipeline=PipelineFactory(name="Partners"))
    with pytest.raises(ValidationError):
        deal_save(deal=deal, by=rep)
    deal.refresh_from_db()
    assert deal.stage == default_stage("Prospecting")


def test_a_company_is_found_by_its_name_in_any_case_through_an_index(db):
    from django.db import connection

    from pipeline.services import company_get_or_create, company_name_taken

    acme = company_get_or_create(name="Acme  Corp")
    assert company_get_or_create(name="ACME corp") == acme
    assert Company.objects.count() == 1
    assert company_name_taken(name="acme CORP") == acme
    if connection.vendor != "postgresql":
        return  # SQLite's LIKE cannot use it; the plan is PostgreSQL's
    # Unordered: ordered by name (the model's default), a tiny table may be walked in the
    # unique name index instead. Seq scans off: a tiny table is otherwise read whole.
    lookup = Company.objects.filter(name__iexact="acme corp").order_by()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = lookup.explain()
    assert "company_name_upper" in plan and "Index Cond" in plan, plan
