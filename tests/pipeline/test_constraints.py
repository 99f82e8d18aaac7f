"""A deal's and a lead's CHECK constraints validated in one query (pipeline.constraints)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from tests.factories import DealFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db


def test_every_broken_check_is_reported_with_its_message(rep):
    deal = DealFactory.build(
        owner=rep,
        team=rep.team,
        stage=default_stage("Won"),
        amount=Decimal("-1.00"),
        created_at=timezone.now(),
        closed_at=timezone.now() - dt.timedelta(days=1),
    )
    with pytest.raises(ValidationError) as raised:
        deal.validate_constraints()
    assert sorted(raised.value.message_dict[NON_FIELD_ERRORS]) == [
        "A deal cannot close before it was created.",
        "The amount cannot be negative.",
    ]


def test_a_check_naming_an_excluded_field_is_skipped(rep):
    deal = DealFactory.build(owner=rep, team=rep.team, amount=Decimal("-1.00"))
    deal.validate_constraints(exclude={"amount"})  # as Django: a field with its own error


def test_the_checks_cost_one_query_in_one_savepoint(rep, django_assert_num_queries):
    # In a transaction (a test runs in one); Django's own way asks 3 queries a check.
    deal = DealFactory.build(owner=rep, team=rep.team, amount=Decimal("10.00"))
    with django_assert_num_queries(3):  # SAVEPOINT, SELECT, RELEASE
        deal.validate_constraints()


def test_a_leads_three_checks_in_one_query(rep, django_assert_num_queries):
    lead = LeadFactory.build(owner=rep, team=rep.team, status="converted", converted_at=None)
    with pytest.raises(ValidationError) as raised, django_assert_num_queries(3):
        lead.validate_constraints()
    assert raised.value.message_dict[NON_FIELD_ERRORS] == [
        "A converted lead needs a conversion time, and only it."
    ]
    LeadFactory(owner=rep).validate_constraints()
