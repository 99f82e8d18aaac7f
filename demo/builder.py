"""A believable demo organisation with two years of history, for `manage.py seed_demo`.

Every choice comes from one `random.Random(seed)` and the `today` passed in, so a seed and a
day always give the same rows. The rows are planned in memory and written with bulk_create
in one transaction: a few thousand deals through the per-row services would take minutes.
Bypassing pipeline.services is safe because the plan keeps their rules itself (a
StageChange for every move, closed_at exactly when won or lost, the owner's team), and the
database's constraints and triggers still check every inserted row.
"""

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Team, User
from metrics.choices import PeriodKind, TargetMetric
from metrics.models import Target
from periods.calendar import period_end, period_start
from pipeline.choices import IcpFit, LeadStatus, Segment, StageKind
from pipeline.models import Company, Deal, Lead, LeadSource, Product, Stage, StageChange

DEFAULT_SEED = 42
DEFAULT_PASSWORD = "salesperf-demo"
HISTORY_DAYS = 730
EMAIL_DOMAIN = "demo.salesperf.example"
ADMIN_USERNAME = "admin"
BATCH_SIZE = 500

REGIONS = ("EMEA", "Americas")
# (team, region, the segments whose companies it sells to)
TEAMS = (
    ("EMEA Enterprise", "EMEA", (Segment.ENTERPRISE,)),
    ("EMEA Mid-market", "EMEA", (Segment.MID_MARKET, Segment.SMB)),
    ("Americas Enterprise", "Americas", (Segment.ENTERPRISE, Segment.MID_MARKET)),
    ("Americas SMB", "Americas", (Segment.SMB,)),
)
REPS_PER_TEAM = 4
# Every team has a star, two solid reps and one who struggles, so dashboards show spread.
REP_WIN_LEVELS = (1.35, 1.1, 0.9, 0.7)

# (name, share of leads, how well its leads convert and close)
SOURCES = (
    ("Web", 0.34, 1.0),
    ("Outbound", 0.26, 0.55),
    ("Event", 0.15, 0.8),
    ("Referral", 0.12, 1.5),
    ("Partner", 0.13, 1.3),
)
# (name, list price, weight for SMB, mid-market, enterprise, expansion deals)
PRODUCTS = (
    ("Cloud Starter", 9_000, (6, 1, 0, 0)),
    ("Cloud Business", 36_000, (2, 6, 2, 1)),
    ("Cloud Enterprise", 180_000, (0, 1, 6, 1)),
    ("Analytics add-on", 12_000, (1, 2, 1, 4)),
    ("Premium support", 15_000, (1, 1, 1, 3)),
)
SEGMENTS = (Segment.SMB, Segment.MID_MARKET, Segment.ENTERPRISE)
SEGMENT_SHARE = (0.45, 0.35, 0.20)
# Bigger companies send more leads (more people, more departments).
SEGMENT_LEAD_WEIGHT = {Segment.SMB: 1.0, Segment.MID_MARKET: 1.3, Segment.ENTERPRISE: 2.5}
AMOUNT_RANGE = {
    Segment.SMB: (5_000, 20_000),
    Segment.MID_MARKET: (20_000, 80_000),
    Segment.ENTERPRISE: (80_000, 400_000),
}
# Mean days spent in Prospecting, Qualification, Proposal and Negotiation.
DWELL_DAYS = {
    Segment.SMB: (4, 6, 8, 6),
    Segment.MID_MARKET: (7, 10, 14, 12),
    Segment.ENTERPRISE: (12, 20, 30, 25),
}
LOSS_CHANCE = (0.25, 0.25, 0.30, 0.25)
LOST_REASONS = ("Price", "Chose competitor", "No budget", "No decision", "Timing")
# Early losses are about budget and timing, late ones about price and competitors.
LOST_REASON_WEIGHTS = ((1, 1, 4, 3, 3), (1, 2, 4, 3, 2), (4, 4, 2, 2, 2), (5, 4, 1, 3, 1))
ICP_FITS = (IcpFit.HIGH, IcpFit.MEDIUM, IcpFit.LOW)
ICP_SHARE = (0.25, 0.45, 0.30)
ICP_CONVERSION = {IcpFit.HIGH: 1.4, IcpFit.MEDIUM: 1.0, IcpFit.LOW: 0.6}
ICP_CLOSE = {IcpFit.HIGH: 1.2, IcpFit.MEDIUM: 1.0, IcpFit.LOW: 0.8}
DISQUALIFIED_REASONS = (
    "Not a fit",
    "No budget",
    "No response",
    "Duplicate",
    "Wrong contact",
    "Already a customer",
)
DISQUALIFIED_WEIGHTS = (4, 3, 4, 1, 1, 1)
LEADS_PER_YEAR = 2_700
COMPANIES = 600
BASE_CONVERSION = 0.40
STALL_CHANCE = 0.15
EXPANSION_CHANCE = 0.35
# Lead volume by calendar month: summer and December are quiet, autumn is busy.
MONTH_SEASON = (0.9, 1.0, 1.1, 1.0, 1.0, 1.0, 0.85, 0.75, 1.1, 1.15, 1.1, 0.8)

FIRST_NAMES = (
    "Alice Ben Chloe Daniel Emma Felix Grace Hugo Isla Jonas Kira Liam Maya Noah Olivia Pablo "
    "Quinn Rosa Samir Tara Umar Vera William Yara Zoe Amara Bruno Clara Diego Elena Farah "
    "George Hana Ivan Julia Kenji Lena Mateo Nadia Oscar Priya Rafael Sofia Theo Ines Leo"
).split()
LAST_NAMES = (
    "Martin Schmidt Garcia Rossi Novak Johansson Dubois Kowalski Silva Jensen Murphy Fischer "
    "Moreau Bianchi Lopez Nakamura Okafor Patel Chen Kim Walker Hughes Bennett Foster Reyes "
    "Larsen Weber Costa Haddad Meyer Brooks Carter Ellis Hansen Lambert Nguyen Sato Torres "
    "Varga Young"
).split()
COMPANY_PREFIXES = (
    "Alder Amber Apex Arbor Aster Atlas Beacon Birch Bright Cedar Cobalt Copper Crest Delta "
    "Ember Everest Falcon Fern Granite Harbor Helix Horizon Indigo Iron Juniper Keystone Lumen "
    "Maple Meridian Nimbus Northwind Oak Onyx Orbit Pine Quartz Redwood Ridge River Sable "
    "Silver Summit Tidal Vertex Willow Zenith"
).split()
# The second word of a company name, and the industry it suggests.
COMPANY_CORES = {
    "Analytics": "Software",
    "Biotech": "Healthcare",
    "Builders": "Construction",
    "Capital": "Financial services",
    "Cloud": "Software",
    "Consulting": "Professional services",
    "Dynamics": "Manufacturing",
    "Energy": "Energy",
    "Foods": "Food & beverage",
    "Freight": "Logistics",
    "Health": "Healthcare",
    "Industries": "Manufacturing",
    "Insurance": "Financial services",
    "Labs": "Software",
    "Learning": "Education",
    "Logistics": "Logistics",
    "Media": "Media",
    "Motors": "Automotive",
    "Networks": "Telecommunications",
    "Partners": "Professional services",
    "Pharma": "Healthcare",
    "Retail": "Retail",
    "Robotics": "Manufacturing",
    "Security": "Software",
    "Systems": "Software",
    "Telecom": "Telecommunications",
    "Textiles": "Manufacturing",
    "Travel": "Travel & hospitality",
}
LEGAL_SUFFIXES = {
    "EMEA": ("", "", "Ltd", "GmbH", "AG", "S.A.", "B.V.", "Group"),
    "Americas": ("", "", "Inc.", "LLC", "Corp.", "Group"),
}


class DemoError(Exception):
    """The demo cannot be loaded into this database; nothing was written."""


class DemoAlreadyLoaded(DemoError):
    """The database already holds the demo organisation (or rows it would collide with)."""


class _Writer(Protocol):
    def write(self, text: str, /) -> object: ...


@dataclass(frozen=True)
class DemoLogin:
    """One account the demo made, to print for whoever logs in next."""

    username: str
    name: str
    role: str
    team: str


@dataclass(frozen=True)
class DemoResult:
    """What build_demo_organisation wrote."""

    seed: int
    first_day: dt.date
    last_day: dt.date
    teams: int
    users: int
    companies: int
    lead_sources: int
    products: int
    leads: int
    deals_won: int
    deals_lost: int
    deals_open: int
    stage_changes: int
    targets: int
    logins: list[DemoLogin] = field(default_factory=list)

    @property
    def deals(self) -> int:
        return self.deals_won + self.deals_lost + self.deals_open


@dataclass
class _Rep:
    user: User
    team: Team
    win: float  # multiplies the chance of getting through each stage
    speed: float  # multiplies the days spent in each stage
    volume: float  # how many accounts the rep gets
    optimism: float  # target / expected revenue: above 1 misses, below 1 beats


@dataclass
class _Account:
    company: Company
    region: str
    owner: _Rep
    lead_weight: float


def database_is_empty() -> bool:
    """No users and no deals: the state `seed_demo --if-empty` loads into."""
    return not User.objects.exists() and not Deal.objects.exists()


def demo_is_loaded() -> bool:
    """Whether the demo organisation (its admin or any of its teams) is already there."""
    team_names = [*REGIONS, *(name for name, _, _ in TEAMS)]
    return (
        User.objects.filter(username=ADMIN_USERNAME).exists()
        or Team.objects.filter(name__in=team_names).exists()
    )


def build_demo_organisation(
    *,
    password: str,
    seed: int = DEFAULT_SEED,
    today: dt.date,
    scale: float = 1.0,
    stdout: _Writer | None = None,
) -> DemoResult:
    """Create the demo organisation with history up to the day before `today`, in one
    transaction; `scale` multiplies the number of companies and leads (tests use less).

    Raises DemoAlreadyLoaded (a DemoError), and writes nothing, when the demo or one of its
    usernames is already there.
    """
    if not password:
        raise ValueError("The demo users need a password.")
    if scale <= 0:
        raise ValueError("scale must be positive.")
    with transaction.atomic():
        return _DemoBuilder(
            password=password, seed=seed, today=today, scale=scale, stdout=stdout
        ).build()


class _DemoBuilder:
    def __init__(
        self, *, password: str, seed: int, today: dt.date, scale: float, stdout: _Writer | None
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.password = password
        self.scale = scale
        self.stdout = stdout
        self.tz = timezone.get_current_timezone()
        self.today = today
        self.first_day = today - dt.timedelta(days=HISTORY_DAYS)
        # Nothing happens from today on: the history ends at the last midnight.
        self.cutoff = dt.datetime.combine(today, dt.time.min, tzinfo=self.tz)
        stages = list(Stage.objects.filter(pipeline__is_default=True).order_by("order"))
        self.open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
        won = [stage for stage in stages if stage.kind == StageKind.WON]
        lost = [stage for stage in stages if stage.kind == StageKind.LOST]
        if len(self.open_stages) != 4 or not won or not lost:
            raise DemoError(
                "The demo needs the default pipeline with four open stages, a won and a lost "
                "stage; run `manage.py migrate` first."
            )
        self.won_stage, self.lost_stage = won[0], lost[0]
        self.admin: User | None = None
        self.teams: dict[str, Team] = {}
        self.users: list[User] = []
        self.reps: list[_Rep] = []
        self.deals: list[Deal] = []
        self.accounts_of: dict[int, _Account] = {}  # id(deal) -> account, for expansions
        self.stage_changes: list[StageChange] = []

    def say(self, text: str) -> None:
        if self.stdout is not None:
            self.stdout.write(text + "\n")

    def build(self) -> DemoResult:
        last_day = self.today - dt.timedelta(days=1)
        self.create_people()
        self.say(f"Building the demo history from {self.first_day} to {last_day}, seed {self.seed}")
        sources = self.create_catalogue_rows(LeadSource, [(name, {}) for name, _, _ in SOURCES])
        products = self.create_catalogue_rows(
            Product, [(name, {"list_price": Decimal(price)}) for name, price, _ in PRODUCTS]
        )
        accounts = self.plan_accounts()
        leads = self.plan_leads(accounts, sources, products)
        self.plan_expansions(products)
        Company.objects.bulk_create([account.company for account in accounts], BATCH_SIZE)
        Lead.objects.bulk_create(leads, BATCH_SIZE)
        Deal.objects.bulk_create(self.deals, BATCH_SIZE)
        StageChange.objects.bulk_create(self.stage_changes, BATCH_SIZE)
        targets = Target.objects.bulk_create(self.plan_targets(), BATCH_SIZE)
        # bulk_create sends no signals: write each row's first audit-trail entry, so the
        # demo's first edit of a deal shows "old -> new" like any later one.
        for model, rows in ((Lead, leads), (Deal, self.deals), (Target, targets)):
            model.history.bulk_history_create(
                rows,
                batch_size=BATCH_SIZE,
                default_user=self.admin,
                default_change_reason="Demo data",
            )
        kinds = [deal.stage.kind for deal in self.deals]
        return DemoResult(
            seed=self.seed,
            first_day=self.first_day,
            last_day=last_day,
            teams=len(self.teams),
            users=len(self.users),
            companies=len(accounts),
            lead_sources=len(sources),
            products=len(products),
            leads=len(leads),
            deals_won=kinds.count(StageKind.WON),
            deals_lost=kinds.count(StageKind.LOST),
            deals_open=kinds.count(StageKind.OPEN),
            stage_changes=len(self.stage_changes),
            targets=len(targets),
            logins=[
                DemoLogin(
                    username=user.username,
                    name=user.get_full_name(),
                    role=user.role,
                    team=user.team.name if user.team else "",
                )
                for user in self.users
            ],
        )

    # --- People ---------------------------------------------------------------------------

    def create_people(self) -> None:
        """An admin, a manager per region and team, and four reps per team."""
        people = len(REGIONS) + len(TEAMS) * (1 + REPS_PER_TEAM)
        names = list(
            zip(
                self.rng.sample(FIRST_NAMES, people),
                self.rng.sample(LAST_NAMES, people),
                strict=True,
            )
        )
        usernames = [ADMIN_USERNAME] + [f"{first}.{last}".lower() for first, last in names]
        taken = sorted(
            User.objects.filter(username__in=usernames).values_list("username", flat=True)
        )
        advice = "Nothing was changed; load it into an empty database (or `manage.py flush`)."
        if demo_is_loaded():
            raise DemoAlreadyLoaded(
                f"The demo data is already loaded (its user '{ADMIN_USERNAME}' or team "
                f"'{REGIONS[0]}' exists). {advice}"
            )
        if taken:
            raise DemoAlreadyLoaded(
                f"Users the demo would create already exist ({', '.join(taken[:5])}). {advice}"
            )
        # One hash for everybody: hashing is deliberately slow, and they share the password.
        password_hash = make_password(self.password)
        joined = self.cutoff - dt.timedelta(days=HISTORY_DAYS + 30)

        def person(username: str, first: str, last: str, role: str, team: Team | None) -> User:
            user = User.objects.create(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@{EMAIL_DOMAIN}",
                role=role,
                team=team,
                password=password_hash,
                date_joined=joined,
                is_staff=role == Role.ADMIN,
                is_superuser=role == Role.ADMIN,
            )
            self.users.append(user)
            return user

        self.admin = person(ADMIN_USERNAME, "Demo", "Administrator", Role.ADMIN, None)
        people_left = iter(names)
        for region in REGIONS:
            self.teams[region] = Team.objects.create(name=region)
        for name, region, _ in TEAMS:
            self.teams[name] = Team.objects.create(name=name, parent=self.teams[region])
        for team in self.teams.values():
            first, last = next(people_left)
            team.manager = person(f"{first}.{last}".lower(), first, last, Role.MANAGER, team)
            team.save(update_fields=["manager"])
        for team_name, _, _ in TEAMS:
            team = self.teams[team_name]
            levels = list(REP_WIN_LEVELS)
            self.rng.shuffle(levels)
            for level in levels:
                first, last = next(people_left)
                user = person(f"{first}.{last}".lower(), first, last, Role.REP, team)
                self.reps.append(
                    _Rep(
                        user=user,
                        team=team,
                        win=level * self.rng.uniform(0.95, 1.05),
                        speed=self.rng.uniform(0.7, 1.4),
                        volume=self.rng.uniform(0.8, 1.25),
                        optimism=self.rng.uniform(0.85, 1.2),
                    )
                )

    def create_catalogue_rows(self, model, rows: Sequence[tuple[str, dict]]) -> list:
        """Lead sources or products by name, reusing any that already exist."""
        return [model.objects.get_or_create(name=name, defaults=extra)[0] for name, extra in rows]

    # --- Companies and leads --------------------------------------------------------------

    def plan_accounts(self) -> list[_Account]:
        """A few hundred companies with unique names, each owned by a rep of the team that
        sells to its region and segment."""
        combos = [(prefix, core) for prefix in COMPANY_PREFIXES for core in COMPANY_CORES]
        self.rng.shuffle(combos)
        existing = set(Company.objects.values_list("name", flat=True))
        wanted = max(40, round(COMPANIES * self.scale))
        accounts: list[_Account] = []
        load: dict[str, float] = defaultdict(float)
        for prefix, core in combos:
            if len(accounts) == wanted:
                break
            region = self.rng.choice(REGIONS)
            suffix = self.rng.choice(LEGAL_SUFFIXES[region])
            segment = self.rng.choices(SEGMENTS, SEGMENT_SHARE)[0]
            icp_fit = self.rng.choices(ICP_FITS, ICP_SHARE)[0]
            name = " ".join(part for part in (prefix, core, suffix) if part)
            if name in existing:
                continue
            team_name = next(
                team
                for team, team_region, segments in TEAMS
                if team_region == region and segment in segments
            )
            weight = SEGMENT_LEAD_WEIGHT[segment] * self.rng.uniform(0.5, 1.5)
            # Territories are balanced: the account goes to the rep of the team with the
            # least expected lead flow for their capacity.
            reps = [rep for rep in self.reps if rep.team.name == team_name]
            owner = min(reps, key=lambda rep: load[rep.user.username] / rep.volume)
            load[owner.user.username] += weight
            company = Company(
                name=name, industry=COMPANY_CORES[core], segment=segment, icp_fit=icp_fit
            )
            accounts.append(_Account(company, region, owner, weight))
        return accounts

    def plan_leads(
        self, accounts: list[_Account], sources: list[LeadSource], products: list[Product]
    ) -> list[Lead]:
        """Leads day by day (growing, seasonal, quiet at weekends); the converted ones
        become deals that walk the pipeline."""
        days = [self.first_day + dt.timedelta(days=offset) for offset in range(HISTORY_DAYS)]
        weights = [
            MONTH_SEASON[day.month - 1]
            * (0.15 if day.weekday() >= 5 else 1.0)
            * (0.8 + 0.4 * offset / (HISTORY_DAYS - 1))
            for offset, day in enumerate(days)
        ]
        per_weight = LEADS_PER_YEAR * HISTORY_DAYS / 365 * self.scale / sum(weights)
        account_weights = list(_cumulative(account.lead_weight for account in accounts))
        source_weights = [share for _, share, _ in SOURCES]
        leads: list[Lead] = []
        for day, weight in zip(days, weights, strict=True):
            for _ in range(_poisson(self.rng, weight * per_weight)):
                account = self.rng.choices(accounts, cum_weights=account_weights)[0]
                index = self.rng.choices(range(len(SOURCES)), source_weights)[0]
                leads.append(self.plan_lead(day, account, sources[index], SOURCES[index][2]))
                if leads[-1].status == LeadStatus.CONVERTED:
                    self.plan_lead_deal(leads[-1], account, SOURCES[index][2], products)
        first_seen: dict[str, dt.datetime] = {}
        for lead in leads:
            first_seen.setdefault(lead.company.name, lead.created_at)
        for account in accounts:
            account.company.created_at = first_seen.get(
                account.company.name, self.at(self.first_day)
            )
        return leads

    def plan_lead(self, day: dt.date, account: _Account, source: LeadSource, quality: float):
        rng, company, rep = self.rng, account.company, account.owner
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = "".join(ch for ch in company.name.lower() if ch.isalnum())[:24] + ".example"
        lead = Lead(
            company=company,
            contact_name=f"{first} {last}",
            contact_email=f"{first}.{last}@{domain}".lower(),
            source=source,
            owner=rep.user,
            team=rep.team,
            created_at=self.at(day),
        )
        chance = BASE_CONVERSION * quality * ICP_CONVERSION[company.icp_fit] * rep.win**0.5
        converts = rng.random() < min(0.9, chance)
        age = (self.today - day).days
        if converts:
            delay = max(1, round(rng.lognormvariate(math.log(5), 0.6) * rep.speed))
            converted_at = self.later(lead.created_at, delay)
            if converted_at < self.cutoff:
                lead.status, lead.converted_at = LeadStatus.CONVERTED, converted_at
            else:
                lead.status = LeadStatus.NEW if age < 3 else self.pick_status(0, 4, 6, 0)
        elif age < 14:
            lead.status = self.pick_status(5, 5, 0, 0)
        elif age < 60:
            lead.status = self.pick_status(0, 35, 10, 55)
        else:
            lead.status = self.pick_status(5, 10, 5, 80)
        if lead.status == LeadStatus.DISQUALIFIED:
            lead.disqualified_reason = rng.choices(DISQUALIFIED_REASONS, DISQUALIFIED_WEIGHTS)[0]
        return lead

    def pick_status(self, new: int, working: int, qualified: int, disqualified: int) -> str:
        statuses = (
            LeadStatus.NEW,
            LeadStatus.WORKING,
            LeadStatus.QUALIFIED,
            LeadStatus.DISQUALIFIED,
        )
        return self.rng.choices(statuses, (new, working, qualified, disqualified))[0]

    # --- Deals ----------------------------------------------------------------------------

    def plan_lead_deal(
        self, lead: Lead, account: _Account, quality: float, products: list[Product]
    ) -> None:
        segment = account.company.segment
        product = self.rng.choices(
            products, [weights[SEGMENTS.index(segment)] for *_, weights in PRODUCTS]
        )[0]
        low, high = AMOUNT_RANGE[segment]
        # Log-uniform, skewed towards the small end: many modest deals, a few large ones.
        amount = low * (high / low) ** self.rng.triangular(0, 1, 0.25)
        assert lead.converted_at is not None
        deal = self.new_deal(
            account=account,
            lead=lead,
            product=product,
            amount=amount,
            created_at=lead.converted_at,
        )
        quality = account.owner.win * quality**0.3 * ICP_CLOSE[account.company.icp_fit]
        self.walk(deal, segment=segment, quality=quality, speed=account.owner.speed)

    def plan_expansions(self, products: list[Product]) -> None:
        """Some customers buy more a few months after a win: deals without a lead."""
        weights = [weights[3] for *_, weights in PRODUCTS]
        for won in [deal for deal in self.deals if deal.stage_id == self.won_stage.pk]:
            if self.rng.random() >= EXPANSION_CHANCE:
                continue
            assert won.closed_at is not None
            created_at = self.later(won.closed_at, self.rng.randint(60, 300))
            product = self.rng.choices(products, weights)[0]
            amount = float(won.amount) * self.rng.uniform(0.2, 0.5)
            if created_at >= self.cutoff:
                continue
            account = self.accounts_of[id(won)]
            deal = self.new_deal(
                account=account,
                lead=None,
                product=product,
                amount=amount,
                created_at=created_at,
                suffix=" expansion",
            )
            segment = account.company.segment
            # Existing customers buy faster and more often.
            quality = account.owner.win * 1.6 * ICP_CLOSE[account.company.icp_fit]
            self.walk(deal, segment=segment, quality=quality, speed=account.owner.speed * 0.7)

    def new_deal(
        self,
        *,
        account: _Account,
        lead: Lead | None,
        product: Product,
        amount: float,
        created_at: dt.datetime,
        suffix: str = "",
    ) -> Deal:
        rep, segment = account.owner, account.company.segment
        expected_days = sum(DWELL_DAYS[segment]) * rep.speed * self.rng.uniform(0.6, 1.2)
        deal = Deal(
            name=f"{account.company.name}: {product.name}{suffix}",
            company=account.company,
            lead=lead,
            product=product,
            owner=rep.user,
            team=rep.team,
            stage=self.open_stages[0],
            amount=Decimal(round(amount, -1)).quantize(Decimal("0.01")),
            expected_close_date=created_at.date() + dt.timedelta(days=round(expected_days)),
            created_at=created_at,
        )
        self.accounts_of[id(deal)] = account
        self.deals.append(deal)
        return deal

    def walk(self, deal: Deal, *, segment: str, quality: float, speed: float) -> None:
        """Move a new deal through the open stages until it is won or lost, or today comes
        first and it stays open where it is. Every move is a StageChange by the owner."""
        rng = self.rng
        stalls_in = rng.randrange(len(self.open_stages)) if rng.random() < STALL_CHANCE else -1
        at = deal.created_at
        for index, stage in enumerate(self.open_stages):
            deal.stage = stage
            dwell = DWELL_DAYS[segment][index] * speed * rng.lognormvariate(-0.1, 0.5)
            if index == stalls_in:
                dwell *= rng.uniform(3, 12)
            lost = rng.random() < min(0.85, LOSS_CHANCE[index] / quality**0.7)
            if lost:
                dwell *= rng.uniform(0.3, 1.2)
            moved_at = self.later(at, dwell)
            if moved_at >= self.cutoff:
                break
            if lost:
                reason = rng.choices(LOST_REASONS, LOST_REASON_WEIGHTS[index])[0]
                self.move(deal, self.lost_stage, moved_at)
                deal.lost_reason = reason
                return
            is_last = index == len(self.open_stages) - 1
            self.move(deal, self.won_stage if is_last else self.open_stages[index + 1], moved_at)
            if is_last:
                return
            at = moved_at
        # Still open today: most reps keep the expected close date current, some do not.
        assert deal.expected_close_date is not None
        if deal.expected_close_date < self.today and rng.random() < 0.65:
            deal.expected_close_date = self.today + dt.timedelta(days=rng.randint(7, 75))

    def move(self, deal: Deal, stage: Stage, at: dt.datetime) -> None:
        self.stage_changes.append(
            StageChange(
                deal=deal,
                from_stage=deal.stage,
                to_stage=stage,
                changed_at=at,
                changed_by=deal.owner,
            )
        )
        deal.stage = stage
        if stage.kind != StageKind.OPEN:
            deal.closed_at = at

    # --- Targets --------------------------------------------------------------------------

    def plan_targets(self) -> list[Target]:
        """Quarterly revenue targets for every rep and team, from the history's first
        quarter to the next one. A rep's target is their share of what the organisation
        won that quarter (or plans to win), bent by how ambitious it was set; teams get the
        sum of their reps', regions the sum of their teams'."""
        quarter = PeriodKind.QUARTER
        current = period_start(self.today, quarter)
        following = period_end(current, quarter) + dt.timedelta(days=1)
        won_by_rep: dict[int, Decimal] = defaultdict(Decimal)
        won_by_quarter: dict[dt.date, Decimal] = defaultdict(Decimal)
        for deal in self.deals:
            if deal.closed_at is not None and deal.stage.kind == StageKind.WON:
                won_by_rep[deal.owner.pk] += deal.amount
                day = timezone.localtime(deal.closed_at, self.tz).date()
                won_by_quarter[period_start(day, quarter)] += deal.amount
        quarters = [period_start(self.first_day, quarter)]
        while quarters[-1] < following:
            quarters.append(period_end(quarters[-1], quarter) + dt.timedelta(days=1))
        plan = {q: float(won_by_quarter[q]) for q in quarters if q < current}
        # The plan for the current quarter: the last year's average, with growth on top.
        recent = [plan[q] for q in quarters if q < current][-4:]
        plan[current] = sum(recent) / len(recent) * 1.1
        plan[following] = plan[current] * 1.04
        total_won = float(sum(won_by_rep.values()))

        targets: list[Target] = []
        team_totals: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
        for rep in self.reps:
            share = float(won_by_rep[rep.user.pk]) / total_won if total_won else 1 / len(self.reps)
            for q in quarters:
                noise = self.rng.uniform(0.92, 1.08)
                value = max(Decimal(1000), _thousands(plan[q] * share * rep.optimism * noise))
                targets.append(self.target(q, value, user=rep.user, set_by=rep.team.manager))
                team_totals[(rep.team.name, q)] += value
        for team_name, region, _ in TEAMS:
            team = self.teams[team_name]
            for q in quarters:
                stretch = self.rng.uniform(1.0, 1.05)
                value = _thousands(float(team_totals[(team_name, q)]) * stretch)
                targets.append(self.target(q, value, team=team, set_by=team.manager))
                team_totals[(region, q)] += value
        for region in REGIONS:
            for q in quarters:
                value = _thousands(float(team_totals[(region, q)]))
                targets.append(self.target(q, value, team=self.teams[region], set_by=self.admin))
        return targets

    def target(
        self,
        quarter: dt.date,
        value: Decimal,
        *,
        set_by: User | None,
        user: User | None = None,
        team: Team | None = None,
    ) -> Target:
        return Target(
            user=user,
            team=team,
            metric=TargetMetric.REVENUE,
            period_kind=PeriodKind.QUARTER,
            period_start=quarter,
            value=value,
            set_by=set_by,
        )

    # --- Time -----------------------------------------------------------------------------

    def at(self, day: dt.date) -> dt.datetime:
        """A moment in office hours on `day`, local time."""
        hour, minute = self.rng.randint(8, 17), self.rng.randint(0, 59)
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz)

    def later(self, moment: dt.datetime, days: float) -> dt.datetime:
        """A working day at least one day after `moment`, about `days` later."""
        day = timezone.localtime(moment, self.tz).date() + dt.timedelta(days=max(1, round(days)))
        if day.weekday() >= 5:
            day += dt.timedelta(days=7 - day.weekday())
        return self.at(day)


def _thousands(value: float) -> Decimal:
    return Decimal(round(value / 1000) * 1000).quantize(Decimal("0.01"))


def _cumulative(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the single-digit daily means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
