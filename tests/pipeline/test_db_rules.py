"""The database itself refuses inconsistent rows, whatever code path writes them."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from metrics.models import Target
from pipeline.models import Deal, Lead, Stage, StageChange
from tests.factories import (
    DealFactory,
    LeadFactory,
    PipelineFactory,
    StageFactory,
    TargetFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def assert_refused(write) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


def test_negative_amount_is_refused(rep):
    assert_refused(lambda: DealFactory(owner=rep, amount=Decimal("-0.01")))
    assert Deal.objects.count() == 0


def test_zero_amount_is_allowed(rep):
    DealFactory(owner=rep, amount=Decimal("0"))


def test_close_before_creation_is_refused(rep):
    assert_refused(
        lambda: DealFactory(
            owner=rep,
            stage=default_stage("Won"),
            created_at=NOW,
            closed_at=NOW - dt.timedelta(seconds=1),
        )
    )


def test_won_stage_without_closed_at_is_refused(rep):
    assert_refused(lambda: DealFactory(owner=rep, stage=default_stage("Won"), closed_at=None))
    assert_refused(lambda: DealFactory(owner=rep, stage=default_stage("Lost"), closed_at=None))


def test_open_stage_with_closed_at_is_refused(rep):
    assert_refused(lambda: DealFactory(owner=rep, closed_at=timezone.now()))


def test_bulk_update_cannot_break_the_closed_at_rule(rep):
    deal = DealFactory(owner=rep)
    assert_refused(lambda: Deal.objects.filter(pk=deal.pk).update(stage=default_stage("Won")))
    won = DealFactory(owner=rep, stage=default_stage("Won"))
    assert_refused(lambda: Deal.objects.filter(pk=won.pk).update(closed_at=None))
    assert_refused(lambda: Deal.objects.filter(pk=won.pk).update(stage=default_stage("Proposal")))


def test_bulk_create_cannot_break_the_closed_at_rule(rep):
    assert_refused(
        lambda: Deal.objects.bulk_create(
            [Deal(name="x", owner=rep, stage=default_stage("Lost"), created_at=NOW)]
        )
    )


def test_external_id_is_unique_when_present(rep):
    DealFactory(owner=rep, external_id="CRM-1")
    assert_refused(lambda: DealFactory(owner=rep, external_id="CRM-1"))
    # Any number of deals may have none.
    DealFactory(owner=rep, external_id=None)
    DealFactory(owner=rep, external_id=None)
    assert Deal.objects.filter(external_id__isnull=True).count() == 2


def test_stage_order_is_unique_within_a_pipeline():
    pipeline = PipelineFactory(name="Renewals")
    StageFactory(pipeline=pipeline, order=1, name="Due")
    assert_refused(lambda: StageFactory(pipeline=pipeline, order=1, name="Also due"))
    # The same order in another pipeline is fine.
    StageFactory(pipeline=PipelineFactory(name="Upsell"), order=1, name="Due")


def test_stage_probability_is_a_percentage():
    assert_refused(lambda: StageFactory(probability=101))


def test_stage_with_deals_cannot_change_kind(rep):
    deal = DealFactory(owner=rep)
    assert_refused(lambda: Stage.objects.filter(pk=deal.stage_id).update(kind="won"))
    empty = StageFactory(kind="open")
    Stage.objects.filter(pk=empty.pk).update(kind="lost")


def test_stage_change_must_move(rep):
    deal = DealFactory(owner=rep)
    stage = default_stage("Prospecting")
    assert_refused(lambda: StageChange.objects.create(deal=deal, from_stage=stage, to_stage=stage))


def test_lead_conversion_time_goes_with_converted_status(rep):
    assert_refused(lambda: LeadFactory(owner=rep, status="converted", converted_at=None))
    assert_refused(lambda: LeadFactory(owner=rep, status="qualified", converted_at=NOW))
    assert_refused(
        lambda: LeadFactory(
            owner=rep, status="converted", created_at=NOW, converted_at=NOW - dt.timedelta(1)
        )
    )
    assert Lead.objects.count() == 0


def test_target_is_for_a_user_or_a_team_not_both(rep, team):
    assert_refused(lambda: TargetFactory(user=rep, team=team))
    assert_refused(lambda: TargetFactory(user=None, team=None))
    assert_refused(lambda: TargetFactory(user=rep, value=Decimal("-1")))


def test_one_target_per_user_metric_and_period(rep, team):
    TargetFactory(user=rep)
    assert_refused(lambda: TargetFactory(user=rep))
    TargetFactory(user=None, team=team)
    assert_refused(lambda: TargetFactory(user=None, team=team))
    assert Target.objects.count() == 2
