"""A small sales organisation whose every KPI for the first quarter of 2026 is worked out
by hand in tests/metrics/test_kpis.py.

Region R has two teams: A (reps a1, a2) and B (rep b1). Times are UTC (TIME_ZONE=UTC).

Leads (owner, created; what became of it):
  L1 a1 Jan 05 -> D1 (won)      L2 a1 Jan 20 -> D2 (lost)   L3 a1 Feb 01 working
  L4 a1 Mar 01 disqualified     L5 a2 Jan 15 -> D5 (won)    L6 a2 Feb 10 working
  L7 b1 Jan 03 -> D7 (won Apr 10, after the quarter)          L8 b1 2025-12-20 -> D8 (won)
  L9 b1 Mar 30 new

Deals (owner, company, created -> outcome, amount):
  D1  a1 C1 Jan 10 (lead L1)   won  Feb 09 12:00   10,000
  D2  a1 C2 Jan 25 (lead L2)   lost Mar 10          5,000
  D3  a1 C1 Feb 15 00:00       won  Mar 17 06:00   20,000
  D4  a1 C3 Mar 05             open, Proposal (50%) after moves Mar 10, Mar 20    8,000
  D5  a2 C4 Jan 20 (lead L5)   won  Mar 01 00:00    6,000
  D6  a2 C4 2025-11-01         won  2025-12-15      4,000
  D7  b1 C5 Jan 10 (lead L7)   Prospecting -> Negotiation Mar 01 -> won Apr 10   12,000
  D8  b1 C6 2025-12-28 (L8)    won  Jan 25 00:00    3,000
  D9  b1 C6 Feb 01             lost Feb 20          7,000
  D10 b1 (no company) Mar 15   open, Prospecting (10%)                            2,000
  D11 a2 C7 Feb 01             open, Negotiation (75%) after a move Feb 10       4,000
  D12 a1 C2 Apr 05             open (after the quarter)                           1,000
  D13 a2 C8 Jan 08             lost Jan 30          0
Targets (revenue): region R Q1 50,000; team A Q1 40,000; a1 Q1 25,000 plus monthly
10,000 for Jan, Feb and Mar; b1 Jan 5,000 and Feb 6,000 (no quarter target).
"""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from accounts.choices import Role
from pipeline.choices import LeadStatus
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    StageChangeFactory,
    TargetFactory,
    TeamFactory,
    UserFactory,
    default_stage,
)


def at(month: int, day: int, hour: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def org(db):
    region = TeamFactory(name="R")
    team_a = TeamFactory(name="A", parent=region)
    team_b = TeamFactory(name="B", parent=region)
    a1 = UserFactory(username="a1", team=team_a, role=Role.REP)
    a2 = UserFactory(username="a2", team=team_a, role=Role.REP)
    b1 = UserFactory(username="b1", team=team_b, role=Role.REP)
    c = {n: CompanyFactory(name=f"C{n}") for n in range(1, 9)}
    won, lost = default_stage("Won"), default_stage("Lost")
    prospecting, qualification = default_stage("Prospecting"), default_stage("Qualification")
    proposal, negotiation = default_stage("Proposal"), default_stage("Negotiation")

    def lead(owner, created, status=LeadStatus.WORKING, converted=None):
        return LeadFactory(
            owner=owner, company=c[1], created_at=created, status=status, converted_at=converted
        )

    converted = LeadStatus.CONVERTED
    l1 = lead(a1, at(1, 5), converted, at(1, 10))
    l2 = lead(a1, at(1, 20), converted, at(1, 25))
    lead(a1, at(2, 1))
    lead(a1, at(3, 1), LeadStatus.DISQUALIFIED)
    l5 = lead(a2, at(1, 15), converted, at(1, 20))
    lead(a2, at(2, 10))
    l7 = lead(b1, at(1, 3), converted, at(1, 10))
    l8 = lead(b1, at(12, 20, year=2025), converted, at(12, 28, year=2025))
    lead(b1, at(3, 30), LeadStatus.NEW)

    def deal(owner, company, created, stage, amount, closed=None, lead=None):
        return DealFactory(
            owner=owner,
            company=company,
            created_at=created,
            stage=stage,
            amount=Decimal(amount),
            closed_at=closed,
            lead=lead,
        )

    d1 = deal(a1, c[1], at(1, 10), won, 10000, at(2, 9, 12), l1)
    deal(a1, c[2], at(1, 25), lost, 5000, at(3, 10), l2)
    deal(a1, c[1], at(2, 15), won, 20000, at(3, 17, 6))
    d4 = deal(a1, c[3], at(3, 5), proposal, 8000)
    StageChangeFactory(
        deal=d4, from_stage=prospecting, to_stage=qualification, changed_at=at(3, 10)
    )
    StageChangeFactory(deal=d4, from_stage=qualification, to_stage=proposal, changed_at=at(3, 20))
    deal(a2, c[4], at(1, 20), won, 6000, at(3, 1), l5)
    deal(a2, c[4], at(11, 1, year=2025), won, 4000, at(12, 15, year=2025))
    d7 = deal(b1, c[5], at(1, 10), won, 12000, at(4, 10), l7)
    StageChangeFactory(deal=d7, from_stage=prospecting, to_stage=negotiation, changed_at=at(3, 1))
    StageChangeFactory(deal=d7, from_stage=negotiation, to_stage=won, changed_at=at(4, 10))
    deal(b1, c[6], at(12, 28, year=2025), won, 3000, at(1, 25), l8)
    deal(b1, c[6], at(2, 1), lost, 7000, at(2, 20))
    deal(b1, None, at(3, 15), prospecting, 2000)
    d11 = deal(a2, c[7], at(2, 1), negotiation, 4000)
    StageChangeFactory(deal=d11, from_stage=prospecting, to_stage=negotiation, changed_at=at(2, 10))
    deal(a1, c[2], at(4, 5), prospecting, 1000)
    deal(a2, c[8], at(1, 8), lost, 0, at(1, 30))

    def target(value, kind="quarter", start=dt.date(2026, 1, 1), **owner):
        owner.setdefault("user", None)
        TargetFactory(period_kind=kind, period_start=start, value=Decimal(value), **owner)

    target(50000, team=region)
    target(40000, team=team_a)
    target(25000, user=a1)
    for month in (1, 2, 3):
        target(10000, "month", dt.date(2026, month, 1), user=a1)
    target(5000, "month", dt.date(2026, 1, 1), user=b1)
    target(6000, "month", dt.date(2026, 2, 1), user=b1)
    return SimpleNamespace(region=region, team_a=team_a, team_b=team_b, a1=a1, a2=a2, b1=b1, d1=d1)


Q1 = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
AS_OF = at(4, 15)


@pytest.fixture
def wide_org(org):
    """`org` and more, for the snapshot split into parts: a second top-level region W with
    a team W1 and its sub-team W1a (reps w1, w1a), and two people without a team (n1 with
    deals and a target, n2 with nothing)."""
    region_w = TeamFactory(name="W")
    team_w1 = TeamFactory(name="W1", parent=region_w)
    team_w1a = TeamFactory(name="W1a", parent=team_w1)
    w1 = UserFactory(username="w1", team=team_w1, role=Role.REP)
    w1a = UserFactory(username="w1a", team=team_w1a, role=Role.REP)
    n1 = UserFactory(username="n1", team=None, role=Role.REP)
    UserFactory(username="n2", team=None, role=Role.REP)
    won, lost = default_stage("Won"), default_stage("Lost")
    proposal = default_stage("Proposal")
    company = CompanyFactory(name="CW")
    lead = LeadFactory(owner=w1a, company=company, created_at=at(1, 4))
    for owner, created, stage, amount, closed, from_lead in [
        (w1, at(1, 12), won, 9000, at(2, 2), None),
        (w1, at(2, 3), lost, 1500, at(3, 3), None),
        (w1a, at(1, 6), won, 4500, at(3, 30, 23), lead),
        (w1a, at(3, 2), proposal, 7000, None, None),
        (n1, at(1, 15), won, 2500, at(1, 31), None),
        (n1, at(2, 20), proposal, 3000, None, None),
    ]:
        DealFactory(
            owner=owner,
            company=company,
            created_at=created,
            stage=stage,
            amount=Decimal(amount),
            closed_at=closed,
            lead=from_lead,
        )
    for value, owner in [(30000, {"team": region_w}), (8000, {"team": team_w1a})]:
        TargetFactory(
            period_kind="quarter",
            period_start=dt.date(2026, 1, 1),
            value=Decimal(value),
            user=None,
            **owner,
        )
    TargetFactory(
        period_kind="month", period_start=dt.date(2026, 1, 1), value=Decimal(2000), user=n1
    )
    return SimpleNamespace(
        **vars(org), region_w=region_w, team_w1=team_w1, team_w1a=team_w1a, n1=n1
    )
