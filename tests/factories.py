"""factory_boy factories, one per model. Deals default to the default pipeline's first
stage; a deal in a won or lost stage gets a closed_at a day after its creation."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Team, User
from metrics.choices import PeriodKind, TargetMetric
from metrics.models import KPISnapshot, Target
from pipeline.choices import LeadStatus, StageKind
from pipeline.models import Company, Deal, Lead, LeadSource, Pipeline, Product, Stage, StageChange


def default_stage(name: str) -> Stage:
    return Stage.objects.get(pipeline__is_default=True, name=name)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.REP
    team = factory.SubFactory(TeamFactory)
    password = factory.django.Password("pw-for-tests-1")


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Company {n}")
    industry = "Software"
    segment = "mid_market"
    icp_fit = "high"


class LeadSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadSource
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Source {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Product {n}")
    list_price = Decimal("1000.00")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    company = factory.SubFactory(CompanyFactory)
    contact_name = factory.Sequence(lambda n: f"Contact {n}")
    source = factory.SubFactory(LeadSourceFactory)
    owner = factory.SubFactory(UserFactory)
    team = factory.LazyAttribute(lambda lead: lead.owner.team)
    status = LeadStatus.NEW
    created_at = factory.LazyFunction(timezone.now)
    converted_at = factory.LazyAttribute(
        lambda lead: (
            lead.created_at + dt.timedelta(days=1) if lead.status == LeadStatus.CONVERTED else None
        )
    )


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Pipeline {n}")


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n + 1)
    probability = 50
    kind = StageKind.OPEN


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    company = factory.SubFactory(CompanyFactory)
    owner = factory.SubFactory(UserFactory)
    team = factory.LazyAttribute(lambda deal: deal.owner.team)
    stage = factory.LazyFunction(lambda: default_stage("Prospecting"))
    amount = Decimal("1000.00")
    created_at = factory.LazyFunction(timezone.now)
    closed_at = factory.LazyAttribute(
        lambda deal: (
            deal.created_at + dt.timedelta(days=1) if deal.stage.kind != StageKind.OPEN else None
        )
    )


class StageChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StageChange

    deal = factory.SubFactory(DealFactory)
    from_stage = factory.LazyFunction(lambda: default_stage("Prospecting"))
    to_stage = factory.LazyFunction(lambda: default_stage("Qualification"))
    changed_at = factory.LazyFunction(timezone.now)
    changed_by = factory.LazyAttribute(lambda change: change.deal.owner)


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    user = factory.SubFactory(UserFactory)
    team = None
    metric = TargetMetric.REVENUE
    period_kind = PeriodKind.QUARTER
    period_start = dt.date(2026, 10, 1)
    value = Decimal("100000.00")


class KPISnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPISnapshot

    date = dt.date(2026, 3, 31)
    scope_kind = "org"
    scope_id = 0
    period_kind = PeriodKind.QUARTER
    period_start = dt.date(2026, 1, 1)
    leads_created = 0
    opportunities_created = 0
    deals_won = 0
    deals_lost = 0
    revenue = Decimal("0.00")
    open_deals = 0
    pipeline_value = Decimal("0.00")
    weighted_pipeline = Decimal("0.00")
    computed_at = factory.LazyFunction(timezone.now)
