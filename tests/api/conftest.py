"""Clients and records for the API tests. The personas come from tests/conftest.py: `rep`
and `other_rep` in Team North (managed by `manager`), `outsider_rep` in Team South, both
teams under Region (managed by `region_manager`), and `admin_user`."""

import sys

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.choices import Role
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    LeadSourceFactory,
    ProductFactory,
    TargetFactory,
    UserFactory,
    default_stage,
)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def as_user(api):
    """`as_user(user)`: the API client signed in as `user` (None: anonymous)."""

    def sign_in(user):
        api.force_authenticate(user)
        return api

    return sign_in


def url(name: str, *args) -> str:
    return reverse(name, args=args)


@pytest.fixture
def company(db):
    return CompanyFactory(name="Acme")


@pytest.fixture
def source(db):
    return LeadSourceFactory(name="Web")


@pytest.fixture
def product(db):
    return ProductFactory(name="Seats")


@pytest.fixture
def rep_deal(rep, company):
    return DealFactory(owner=rep, company=company, name="Acme seats")


@pytest.fixture
def rep_lead(rep, company, source):
    return LeadFactory(owner=rep, company=company, source=source)


@pytest.fixture
def rep_target(rep):
    return TargetFactory(user=rep)


@pytest.fixture
def stage():
    """A stage of the default pipeline by name."""
    return default_stage


@pytest.fixture
def south_manager(other_team):
    """The manager of the outsider's team: a manager, but not of the rep's team."""
    user = UserFactory(username="south_manager", team=other_team, role=Role.MANAGER)
    other_team.manager = user
    other_team.save()
    return user


def pytest_terminal_summary(terminalreporter):
    """How much the schemathesis run did, when it ran."""
    module = sys.modules.get("tests.api.test_schemathesis")
    run = getattr(module, "RUN", None)
    if run and run["cases"]:
        terminalreporter.write_line(
            f"schemathesis: {run['operations']} operations, {run['cases']} requests "
            f"in {run['seconds']:.1f} s"
        )
