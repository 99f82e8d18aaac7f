"""A large organisation for load tests and benchmarks, for `manage.py seed_scale`.

The same kind of rows as the demo (demo/builder.py: its lead sources, products, segments,
stage dwell times and loss chances), for any number of deals, reps and teams: an admin,
regions with leaf teams under them (a manager each, who is also a member), reps in the leaf
teams; companies, leads (about 2.5 per deal), deals with their stage history, and monthly
and quarterly revenue targets for every rep and team.

Built for speed: rows are generated as tuples of strings with explicit ids and streamed in
chunks to demo.bulk_load (COPY on PostgreSQL), never as model instances; times are integer
seconds. Every choice comes from one random.Random(seed), so a seed and the same options
(the date window included) give the same rows, byte for byte, in an empty database.

Bypassing pipeline.services is safe for the reasons the demo gives: the generator keeps
their rules itself (a StageChange for every move, dated in order between the deal's
creation and its close; closed_at exactly when won or lost, never in the future; the
owner's team; a converted lead has its conversion time), and the database's constraints
check every row (the closed_at trigger once for the whole table, see demo.bulk_load). No
audit-trail (django-simple-history) rows are written: no figure, page or rule reads them,
and a row's first edit simply starts its history.
"""

import datetime as dt
import gc
import math
import random
import time
from bisect import bisect
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Max, Model
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Team, User
from metrics.choices import PeriodKind, TargetMetric
from metrics.models import Target
from pipeline.choices import IcpFit, LeadStatus, Segment, StageKind
from pipeline.models import Company, Deal, Lead, LeadSource, Product, Stage, StageChange

from .builder import (
    AMOUNT_RANGE,
    COMPANY_CORES,
    COMPANY_PREFIXES,
    DISQUALIFIED_REASONS,
    DISQUALIFIED_WEIGHTS,
    DWELL_DAYS,
    EMAIL_DOMAIN,
    FIRST_NAMES,
    ICP_CLOSE,
    ICP_CONVERSION,
    ICP_SHARE,
    LAST_NAMES,
    LOSS_CHANCE,
    LOST_REASON_WEIGHTS,
    LOST_REASONS,
    MONTH_SEASON,
    PRODUCTS,
    REP_WIN_LEVELS,
    SEGMENT_LEAD_WEIGHT,
    SEGMENT_SHARE,
    SEGMENTS,
    SOURCES,
    STALL_CHANCE,
    DemoError,
    _Writer,
)
from .bulk_load import BulkLoader, loader_for_connection, run_pending_load_steps

DEFAULT_DEALS = 100_000
DEFAULT_SEED = 1
HISTORY_DAYS = 3 * 365
LEADS_PER_DEAL = 2.5
COMPANIES_PER_DEAL = 0.2
# The deals' origins, roughly: converted leads, expansions of won deals, and deals reps
# open directly (which make up the exact count asked for).
FROM_LEADS = 0.80
EXPANSION_CHANCE = 0.30
CHUNK = 50_000
ADMIN_USERNAME = "admin"

REGION_NAMES = (
    "North Central South East West Pacific Atlantic Nordic Alpine Coastal Highlands Lakes"
).split()
SEGMENT_TEAM_NAMES = {
    Segment.SMB: "SMB",
    Segment.MID_MARKET: "Mid-market",
    Segment.ENTERPRISE: "Enterprise",
}
CITIES = (
    "Amsterdam Athens Austin Berlin Boston Brussels Chicago Copenhagen Dallas Denver Dublin "
    "Geneva Hamburg Helsinki Houston Lisbon London Lyon Madrid Melbourne Miami Milan Montreal "
    "Munich Oslo Paris Porto Prague Rome Seattle Seoul Singapore Stockholm Sydney Tokyo "
    "Toronto Valencia Vienna Warsaw Zurich"
).split()
LEGAL_FORMS = ("", "Ltd", "GmbH", "AG", "S.A.", "B.V.", "Inc.", "LLC", "Corp.", "Group")
STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED)

COMPANY_COLUMNS = ("id", "name", "industry", "segment", "icp_fit", "created_at")
# The loaders' column order: the order of the values in every generated row.
LEAD_COLUMNS = tuple(
    "id company_id contact_name contact_email source_id owner_id team_id status "
    "disqualified_reason created_at converted_at deleted_at deleted_by_id".split()
)
DEAL_COLUMNS = tuple(
    "id name company_id lead_id product_id owner_id team_id stage_id amount "
    "expected_close_date created_at closed_at lost_reason external_id updated_at version "
    "deleted_at deleted_by_id".split()
)
CHANGE_COLUMNS = ("id", "deal_id", "from_stage_id", "to_stage_id", "changed_at", "changed_by_id")
TARGET_COLUMNS = tuple(
    "id user_id team_id metric period_kind period_start value set_by_id updated_at".split()
)


@dataclass(frozen=True)
class ScaleOptions:
    """What seed_scale builds: the window is first_day..last_day, both inclusive."""

    deals: int
    reps: int
    teams: int
    seed: int
    first_day: dt.date
    last_day: dt.date
    password: str

    @classmethod
    def with_defaults(
        cls,
        *,
        deals: int = DEFAULT_DEALS,
        reps: int | None = None,
        teams: int | None = None,
        seed: int = DEFAULT_SEED,
        first_day: dt.date | None = None,
        last_day: dt.date | None = None,
        password: str,
        today: dt.date,
    ) -> "ScaleOptions":
        reps = reps if reps is not None else default_reps(deals)
        last_day = last_day or today - dt.timedelta(days=1)
        return cls(
            deals=deals,
            reps=reps,
            teams=teams if teams is not None else default_teams(reps),
            seed=seed,
            first_day=first_day or last_day - dt.timedelta(days=HISTORY_DAYS - 1),
            last_day=last_day,
            password=password,
        )


def default_reps(deals: int) -> int:
    return max(16, deals // 5000)


def default_teams(reps: int) -> int:
    return max(4, reps // 8)


def region_count(teams: int) -> int:
    return max(1, min(teams, round(math.sqrt(teams))))


@dataclass
class ScaleResult:
    """Rows written per table, and seconds per step."""

    rows: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    deals_won: int = 0
    deals_lost: int = 0
    deals_open: int = 0
    # Seconds per index (or ANALYZE) built after the commit, by name.
    step_seconds: dict[str, float] = field(default_factory=dict)


def build_scale_organisation(
    *,
    options: ScaleOptions,
    today: dt.date,
    stdout: _Writer | None = None,
    index_connections: int = 2,
) -> ScaleResult:
    """Generate and load the organisation. Raises DemoError when the options cannot work or
    a name it would create is taken.

    The rows are written in one transaction: if it fails, nothing is written. On PostgreSQL,
    called outside a transaction, the secondary non-unique indexes, the foreign keys' check
    of the loaded rows and the ANALYZEs are then run after the commit on `index_connections`
    connections at once (demo.bulk_load.run_pending_load_steps); until they are,
    PendingLoadStep rows list them, and a failure there leaves complete rows, every rule in
    force for new writes, whose lists are slower. Inside the caller's transaction (tests)
    everything is done in it."""
    if options.deals < 1:
        raise DemoError("--deals must be at least 1.")
    if options.teams < 1 or options.reps < options.teams:
        raise DemoError("Every leaf team needs a rep: --reps must be at least --teams (≥ 1).")
    if options.first_day > options.last_day:
        raise DemoError("--start must not be after --end.")
    if options.last_day >= today:
        raise DemoError("--end must be before today: nothing may close in the future.")
    if not options.password:
        raise DemoError("The users need a password.")
    defer_indexes = connection.vendor == "postgresql" and not connection.in_atomic_block
    # Millions of row tuples and no reference cycles: the cyclic garbage collector would
    # only rescan the growing heap again and again (measured 10-25 % of generating).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with transaction.atomic():
            result = _ScaleBuilder(options, stdout, defer_indexes=defer_indexes).build()
    finally:
        if collecting:
            gc.enable()
    if defer_indexes:
        started = time.perf_counter()
        result.step_seconds = run_pending_load_steps(connection_count=index_connections)
        label = (
            f"after commit: indexes, foreign key checks, analyze ({index_connections} connections)"
        )
        result.timings[label] = time.perf_counter() - started
    return result


def _next_id(model: type[Model]) -> int:
    return (model._default_manager.aggregate(top=Max("pk"))["top"] or 0) + 1


class _Clock:
    """Days of the window by index (0 = first_day), moments as integer UTC seconds, and
    their text as the loaders want it (UTC, the sessions' time zone)."""

    def __init__(self, first_day: dt.date, days: int, rng: random.Random) -> None:
        tz = timezone.get_current_timezone()
        self.first_day, self.days, self.random = first_day, days, rng.random
        self.first_weekday = first_day.weekday()
        # Local midnights; office hours below are local too.
        self.midnight = [
            int(dt.datetime.combine(first_day + dt.timedelta(k), dt.time.min, tz).timestamp())
            for k in range(days + 1)
        ]
        self.utc_origin = (self.midnight[0] // 86400 - 2) * 86400
        origin_day = dt.date(1970, 1, 1) + dt.timedelta(days=self.utc_origin // 86400)
        self.utc_days = [str(origin_day + dt.timedelta(n)) for n in range(days + 5)]
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
        # Expected close dates reach past the window.
        self.dates = [str(first_day + dt.timedelta(k)) for k in range(days + 800)]

    def at(self, k: int) -> int:
        """A moment in office hours (08:00–18:00 local) on day k."""
        return self.midnight[k] + 28800 + int(self.random() * 36000)

    def later(self, k: int, days: float) -> int:
        """A working day at least one day after day k, about `days` later."""
        k += max(1, round(days))
        weekday = (self.first_weekday + k) % 7
        return k + 7 - weekday if weekday >= 5 else k

    def text(self, moment: int) -> str:
        day, second = divmod(moment - self.utc_origin, 86400)
        return f"{self.utc_days[day]} {self.hms[second]}"

    def day(self, day: dt.date) -> int:
        return (day - self.first_day).days


@dataclass
class _Rep:
    user_id: str
    team_id: str
    index: int
    win: float
    speed: float
    volume: float
    optimism: float


class _ScaleBuilder:
    def __init__(
        self, options: ScaleOptions, stdout: _Writer | None, *, defer_indexes: bool = False
    ) -> None:
        self.options = options
        self.stdout = stdout
        self.rng = random.Random(options.seed)
        self.days = (options.last_day - options.first_day).days + 1
        self.clock = _Clock(options.first_day, self.days, self.rng)
        stages = list(Stage.objects.filter(pipeline__is_default=True).order_by("order"))
        self.open_ids = [str(s.pk) for s in stages if s.kind == StageKind.OPEN]
        won = [str(s.pk) for s in stages if s.kind == StageKind.WON]
        lost = [str(s.pk) for s in stages if s.kind == StageKind.LOST]
        if len(self.open_ids) != 4 or not won or not lost:
            raise DemoError(
                "seed_scale needs the default pipeline with four open stages, a won and a "
                "lost stage; run `manage.py migrate` first."
            )
        self.won_id, self.lost_id = won[0], lost[0]
        self.loader: BulkLoader = loader_for_connection(
            [Company, Lead, Deal, StageChange, Target], defer_indexes=defer_indexes
        )
        self.null = self.loader.null
        self.rows: dict[str, int] = defaultdict(int)
        self.timings: dict[str, float] = {}
        self.kinds = {"won": 0, "lost": 0, "open": 0}
        # Revenue won per (rep index, month index): what targets are set from.
        self.won_by_month: dict[tuple[int, int], int] = defaultdict(int)

    def say(self, text: str) -> None:
        if self.stdout is not None:
            self.stdout.write(text + "\n")

    def timed(self, label: str, started: float) -> None:
        self.timings[label] = self.timings.get(label, 0.0) + time.perf_counter() - started

    def build(self) -> ScaleResult:
        started = time.perf_counter()
        self.create_people()
        self.create_catalogue()
        self.plan_companies()
        self.timed("people, catalogue", started)
        self.loader.prepare()
        try:
            started = time.perf_counter()
            self.stream_deals()
            self.write_companies()
            self.write_targets()
            self.loader.wait()
            # Python generating rows while the COPYs of the last chunks run beside it.
            self.timed("rows generated and copied", started)
            self.loader.finish()
        except BaseException:
            self.loader.stop()
            raise
        for label, seconds in self.loader.timings.items():
            self.timings[f"load: {label}"] = seconds
        return ScaleResult(
            rows=dict(self.rows),
            timings=self.timings,
            deals_won=self.kinds["won"],
            deals_lost=self.kinds["lost"],
            deals_open=self.kinds["open"],
        )

    # --- People and catalogue -------------------------------------------------------------

    def create_people(self) -> None:
        """The admin, regions and leaf teams with a manager each, reps in the leaf teams:
        written with explicit ids so that a seed gives the same rows every time."""
        options, rng = self.options, self.rng
        regions = region_count(options.teams)
        region_names = [
            REGION_NAMES[i % len(REGION_NAMES)]
            + (f" {i // len(REGION_NAMES) + 1}" if i >= len(REGION_NAMES) else "")
            for i in range(regions)
        ]
        team_id, user_id = _next_id(Team), _next_id(User)
        joined = timezone.make_aware(
            dt.datetime.combine(options.first_day - dt.timedelta(days=30), dt.time(9))
        )
        teams: list[Team] = [
            Team(pk=team_id + i, name=f"{name} region") for i, name in enumerate(region_names)
        ]
        # Leaf teams go round the regions; each sells to one segment.
        self.leaf_segment: dict[int, str] = {}
        leaf_teams: list[Team] = []
        per_region: dict[int, int] = defaultdict(int)
        for j in range(options.teams):
            region_index = j % regions
            segment = SEGMENTS[per_region[region_index] % 3]
            count = per_region[region_index] // 3
            per_region[region_index] += 1
            name = f"{region_names[region_index]} {SEGMENT_TEAM_NAMES[segment]}"
            team = Team(
                pk=team_id + regions + j,
                name=name + (f" {count + 1}" if count else ""),
                parent=teams[region_index],
            )
            self.leaf_segment[team.pk] = segment
            leaf_teams.append(team)
        teams += leaf_teams
        taken = list(Team.objects.filter(name__in=[t.name for t in teams])[:3])
        if taken:
            raise DemoError(f"Teams seed_scale would create already exist: {taken}.")

        salt = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(22))
        # One hash for all (hashing is slow on purpose), salted from the seed: same rows.
        password = make_password(options.password, salt=salt)
        people = len(teams) + options.reps
        usernames: set[str] = set()
        users: list[User] = []

        def person(first: str, last: str, role: str, team: Team | None, username: str = ""):
            if not username:
                base = f"{first}.{last}".lower()
                username, n = base, 1
                while username in usernames:
                    n += 1
                    username = f"{base}{n}"
            usernames.add(username)
            user = User(
                pk=user_id + len(users),
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@{EMAIL_DOMAIN}",
                role=role,
                team=team,
                password=password,
                date_joined=joined,
                is_staff=role == Role.ADMIN,
                is_superuser=role == Role.ADMIN,
            )
            users.append(user)
            return user

        admin = User.objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            admin = person("Scale", "Administrator", Role.ADMIN, None, ADMIN_USERNAME)
        self.admin_id = str(admin.pk)
        names = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(people)]
        for team, (first, last) in zip(teams, names, strict=False):
            team.manager = person(first, last, Role.MANAGER, team)
        self.reps: list[_Rep] = []
        levels: list[float] = []
        for i, (first, last) in enumerate(names[len(teams) :]):
            team = leaf_teams[i % len(leaf_teams)]
            user = person(first, last, Role.REP, team)
            if not levels:
                levels = list(REP_WIN_LEVELS)
                rng.shuffle(levels)
            self.reps.append(
                _Rep(
                    user_id=str(user.pk),
                    team_id=str(team.pk),
                    index=i,
                    win=levels.pop() * rng.uniform(0.95, 1.05),
                    speed=rng.uniform(0.7, 1.4),
                    volume=rng.uniform(0.8, 1.25),
                    optimism=rng.uniform(0.85, 1.2),
                )
            )
        clash = sorted(
            User.objects.filter(username__in=usernames).values_list("username", flat=True)
        )[:3]
        if clash:
            raise DemoError(f"Users seed_scale would create already exist: {clash}.")
        Team.objects.bulk_create([Team(pk=t.pk, name=t.name, parent_id=t.parent_id) for t in teams])
        User.objects.bulk_create(users)
        for team in teams:
            Team.objects.filter(pk=team.pk).update(manager=team.manager, created_at=joined)
        self.teams, self.leaf_teams = teams, leaf_teams
        self.rows["team"], self.rows["user"] = len(teams), len(users)

    def create_catalogue(self) -> None:
        """The demo's lead sources and products, reused when they exist."""
        self.source_ids = [
            str(LeadSource.objects.get_or_create(name=name)[0].pk) for name, _, _ in SOURCES
        ]
        self.product_ids, self.product_names = [], []
        for name, price, _ in PRODUCTS:
            product, _ = Product.objects.get_or_create(name=name, defaults={"list_price": price})
            self.product_ids.append(str(product.pk))
            self.product_names.append(name)

    # --- Companies ------------------------------------------------------------------------

    def plan_companies(self) -> None:
        """Companies with unique names, a segment, an ICP fit and an owner: a rep of a team
        that sells to the segment, chosen by the rep's capacity."""
        rng = self.rng
        count = max(40, round(self.options.deals * COMPANIES_PER_DEAL))
        radix = (len(COMPANY_PREFIXES), len(COMPANY_CORES), len(CITIES), len(LEGAL_FORMS))
        per_round = math.prod(radix)
        rounds = -(-count // per_round)
        space = per_round * rounds
        step = rng.randrange(1, space)
        while math.gcd(step, space) != 1:
            step += 1
        offset = rng.randrange(space)
        cores = list(COMPANY_CORES)
        reps_by_segment = {
            segment: [rep for rep in self.reps if self.leaf_segment[int(rep.team_id)] == segment]
            or self.reps
            for segment in SEGMENTS
        }
        owner_weights = {
            segment: list(accumulate(rep.volume for rep in reps))
            for segment, reps in reps_by_segment.items()
        }
        segment_weights = list(accumulate(SEGMENT_SHARE))
        icp_weights = list(accumulate(ICP_SHARE))
        icp_fits = (IcpFit.HIGH, IcpFit.MEDIUM, IcpFit.LOW)
        self.company_first_id = _next_id(Company)
        self.company_names: list[str] = []
        self.company_rows: list[list[str]] = []
        self.company_segment: list[int] = []
        self.company_icp: list[IcpFit] = []
        self.company_owner: list[_Rep] = []
        self.company_domain: list[str] = []
        self.company_first_seen: list[int] = []
        lead_weights: list[float] = []
        random_ = rng.random
        for i in range(count):
            n = (offset + i * step) % space
            n, legal = divmod(n, radix[3])
            n, city = divmod(n, radix[2])
            n, core = divmod(n, radix[1])
            generation, prefix = divmod(n, radix[0])
            parts = (COMPANY_PREFIXES[prefix], cores[core], CITIES[city], LEGAL_FORMS[legal])
            name = " ".join(part for part in parts if part)
            if generation:
                name += f" {generation + 1}"
            segment_index = bisect(segment_weights, random_() * segment_weights[-1])
            segment = SEGMENTS[segment_index]
            icp = icp_fits[bisect(icp_weights, random_() * icp_weights[-1])]
            reps, weights = reps_by_segment[segment], owner_weights[segment]
            owner = reps[bisect(weights, random_() * weights[-1])]
            self.company_names.append(name)
            self.company_rows.append(
                [str(self.company_first_id + i), name, COMPANY_CORES[cores[core]], segment, icp]
            )
            self.company_segment.append(segment_index)
            self.company_icp.append(icp)
            self.company_owner.append(owner)
            self.company_domain.append(
                name.lower().replace(" ", "").replace(".", "").replace("-", "")[:24] + ".example"
            )
            self.company_first_seen.append(0)
            lead_weights.append(SEGMENT_LEAD_WEIGHT[segment] * rng.uniform(0.5, 1.5))
        self.company_weights = list(accumulate(lead_weights))
        clash = list(Company.objects.filter(name__in=self.company_names[:1000])[:3])
        if clash:
            raise DemoError(f"Companies seed_scale would create already exist: {clash}.")

    def write_companies(self) -> None:
        """Written after the leads and deals: a company appears when its first lead or deal
        does (or on the first day, if none ever came)."""
        started = time.perf_counter()
        text = self.clock.text
        first_day = self.clock.at(0)
        rows = (
            (*row, text(seen or first_day))
            for row, seen in zip(self.company_rows, self.company_first_seen, strict=True)
        )
        self.loader.write(Company, COMPANY_COLUMNS, rows)
        self.rows["company"] = len(self.company_rows)
        self.timed("companies", started)

    # --- Leads and deals ------------------------------------------------------------------

    def stream_deals(self) -> None:
        """Leads day by day (growing, seasonal, quiet at weekends), in time order; converted
        ones become deals, won deals bring expansions; then deals reps open directly, until
        there are exactly --deals deals. Written in chunks as they are made."""
        options, rng, clock = self.options, self.rng, self.clock
        random_ = rng.random
        days = self.days
        weights = []
        for k in range(days):
            day = options.first_day + dt.timedelta(days=k)
            weights.append(
                MONTH_SEASON[day.month - 1]
                * (0.15 if day.weekday() >= 5 else 1.0)
                * (0.8 + 0.4 * k / max(1, days - 1))
                * rng.uniform(0.85, 1.15)
            )
        self.day_weights = list(accumulate(weights))
        leads = round(options.deals * LEADS_PER_DEAL)
        # Leads per day from the cumulative weights, rounded: exactly `leads` in all.
        day_counts, done = [], 0
        for cumulative in self.day_weights:
            upto = round(leads * cumulative / self.day_weights[-1])
            day_counts.append(upto - done)
            done = upto

        source_weights = list(accumulate(share for _, share, _ in SOURCES))
        source_quality = [quality for _, _, quality in SOURCES]
        mean_source = sum(s * q for _, s, q in SOURCES) / source_weights[-1]
        icp_shares = dict(zip((IcpFit.HIGH, IcpFit.MEDIUM, IcpFit.LOW), ICP_SHARE, strict=True))
        mean_icp = sum(ICP_CONVERSION[fit] * share for fit, share in icp_shares.items())
        root_win = {rep.index: rep.win**0.5 for rep in self.reps}
        mean_win = sum(root_win.values()) / len(root_win)
        # The conversion chance that turns FROM_LEADS of the deals into converted leads.
        base = FROM_LEADS / LEADS_PER_DEAL / (mean_source * mean_icp * mean_win)
        self.product_weights = [
            list(accumulate(weights[s] for *_, weights in PRODUCTS)) for s in range(4)
        ]
        self.lost_weights = [list(accumulate(w)) for w in LOST_REASON_WEIGHTS]
        status_weights = {
            "late": list(accumulate((0, 4, 6, 0))),
            "fresh": list(accumulate((5, 5, 0, 0))),
            "young": list(accumulate((0, 35, 10, 55))),
            "old": list(accumulate((5, 10, 5, 80))),
        }
        disqualified_weights = list(accumulate(DISQUALIFIED_WEIGHTS))
        firsts = [(name, name.lower()) for name in FIRST_NAMES]
        lasts = [(name, name.lower()) for name in LAST_NAMES]
        null, text = self.null, clock.text
        self.lead_id = _next_id(Lead)
        self.deal_id = _next_id(Deal)
        self.change_id = _next_id(StageChange)
        self.lead_rows: list[tuple] = []
        self.deal_rows: list[tuple] = []
        self.change_rows: list[tuple] = []
        self.deals_made = 0
        company_weights, company_total = self.company_weights, self.company_weights[-1]
        first_seen = self.company_first_seen

        for k, count in enumerate(day_counts):
            age = days - k
            for _ in range(count):
                ci = bisect(company_weights, random_() * company_total)
                rep = self.company_owner[ci]
                icp = self.company_icp[ci]
                si = bisect(source_weights, random_() * source_weights[-1])
                created = clock.at(k)
                if not first_seen[ci] or created < first_seen[ci]:
                    first_seen[ci] = created
                first, first_lower = firsts[int(random_() * len(firsts))]
                last, last_lower = lasts[int(random_() * len(lasts))]
                chance = base * source_quality[si] * ICP_CONVERSION[icp] * root_win[rep.index]
                status, converted_at, reason = "", null, ""
                converted_day = -1
                if random_() < min(0.9, chance) and self.deals_made < options.deals:
                    delay = max(1, round(rng.lognormvariate(math.log(5), 0.6) * rep.speed))
                    converted_day = clock.later(k, delay)
                    if converted_day < days:
                        status = LeadStatus.CONVERTED
                    elif age < 3:
                        status = LeadStatus.NEW
                    else:
                        weights_ = status_weights["late"]
                        status = STATUSES[bisect(weights_, random_() * weights_[-1])]
                else:
                    band = "fresh" if age < 14 else "young" if age < 60 else "old"
                    weights_ = status_weights[band]
                    status = STATUSES[bisect(weights_, random_() * weights_[-1])]
                if status == LeadStatus.DISQUALIFIED:
                    index = bisect(disqualified_weights, random_() * disqualified_weights[-1])
                    reason = DISQUALIFIED_REASONS[index]
                lead_id = str(self.lead_id)
                self.lead_id += 1
                if status == LeadStatus.CONVERTED:
                    converted = clock.at(converted_day)
                    converted_at = text(converted)
                    quality = rep.win * source_quality[si] ** 0.3 * ICP_CLOSE[icp]
                    self.new_deal(ci, converted_day, converted, lead_id, quality, rep.speed)
                self.lead_rows.append(
                    (
                        lead_id,
                        self.company_rows[ci][0],
                        f"{first} {last}",
                        f"{first_lower}.{last_lower}@{self.company_domain[ci]}",
                        self.source_ids[si],
                        rep.user_id,
                        rep.team_id,
                        status,
                        reason,
                        text(created),
                        converted_at,
                        null,
                        null,
                    )
                )
                if len(self.lead_rows) >= CHUNK:
                    self.flush()
        # Deals reps open themselves, without a lead, for the rest of the count.
        while self.deals_made < options.deals:
            k = bisect(self.day_weights, random_() * self.day_weights[-1])
            ci = bisect(company_weights, random_() * company_total)
            created = clock.at(k)
            if not first_seen[ci] or created < first_seen[ci]:
                first_seen[ci] = created
            rep = self.company_owner[ci]
            quality = rep.win * ICP_CLOSE[self.company_icp[ci]]
            self.new_deal(ci, k, created, null, quality, rep.speed)
            if len(self.deal_rows) >= CHUNK:
                self.flush()
        self.flush()

    def new_deal(
        self,
        ci: int,
        day: int,
        created: int,
        lead_id: str | None,
        quality: float,
        speed: float,
        expands: int | None = None,
    ) -> None:
        """One deal of company `ci` created at `created` (on day `day`), walked through the
        pipeline; a won deal may bring an expansion deal (a deal without a lead) later."""
        rng, clock, null = self.rng, self.clock, self.null
        random_ = rng.random
        segment_index = self.company_segment[ci]
        segment = SEGMENTS[segment_index]
        rep = self.company_owner[ci]
        deal_id = self.deal_id
        self.deal_id += 1
        self.deals_made += 1
        if expands is None:
            weights = self.product_weights[segment_index]
            low, high = AMOUNT_RANGE[segment]
            # Log-uniform, skewed towards the small end: many modest deals, a few large ones.
            cents = int(low * 100 * (high / low) ** rng.triangular(0, 1, 0.25))
            suffix = ""
        else:
            weights = self.product_weights[3]
            cents = int(expands * rng.uniform(0.2, 0.5))
            suffix = " expansion"
        product = bisect(weights, random_() * weights[-1])
        dwell_days = DWELL_DAYS[segment]
        expected = day + round(sum(dwell_days) * speed * rng.uniform(0.6, 1.2))

        # The walk: every move is a StageChange by the owner, dated on a later working day.
        stalls_in = rng.randrange(4) if random_() < STALL_CHANCE else -1
        loss_scale = quality**0.7
        at_day, at, stage, moved = day, created, 0, 0
        closed = -1
        lost_reason = ""
        changes = self.change_rows
        for index in range(4):
            dwell = dwell_days[index] * speed * rng.lognormvariate(-0.1, 0.5)
            if index == stalls_in:
                dwell *= rng.uniform(3, 12)
            lost = random_() < min(0.85, LOSS_CHANCE[index] / loss_scale)
            if lost:
                dwell *= rng.uniform(0.3, 1.2)
            next_day = clock.later(at_day, dwell)
            if next_day >= self.days:
                break
            moved_at = clock.at(next_day)
            if lost:
                to = self.lost_id
                weights_ = self.lost_weights[index]
                lost_reason = LOST_REASONS[bisect(weights_, random_() * weights_[-1])]
            else:
                to = self.won_id if index == 3 else self.open_ids[index + 1]
            changes.append(
                (
                    str(self.change_id),
                    str(deal_id),
                    self.open_ids[index],
                    to,
                    clock.text(moved_at),
                    rep.user_id,
                )
            )
            self.change_id += 1
            moved += 1
            at_day, at = next_day, moved_at
            if lost or index == 3:
                closed = at
                stage = 5 if lost else 4
                break
            stage = index + 1

        if closed < 0:
            self.kinds["open"] += 1
            stage_id = self.open_ids[stage]
            # Still open: most reps keep the expected close date current, some do not.
            if expected < self.days and random_() < 0.65:
                expected = self.days + rng.randint(7, 75)
            expected_text = clock.dates[expected]
            closed_text = null
        else:
            won = stage == 4
            self.kinds["won" if won else "lost"] += 1
            stage_id = self.won_id if won else self.lost_id
            expected_text = clock.dates[min(expected, len(clock.dates) - 1)]
            closed_text = clock.text(closed)
            if won:
                self.won_by_month[(rep.index, self.month_index(at_day))] += cents
        self.deal_rows.append(
            (
                str(deal_id),
                f"{self.company_names[ci]}: {self.product_names[product]}{suffix}",
                self.company_rows[ci][0],
                lead_id,
                self.product_ids[product],
                rep.user_id,
                rep.team_id,
                stage_id,
                f"{cents // 100}.{cents % 100:02d}",
                expected_text,
                clock.text(created),
                closed_text,
                lost_reason,
                null,
                clock.text(at),
                str(1 + moved),
                null,
                null,
            )
        )
        if (
            closed >= 0
            and stage == 4
            and expands is None
            and random_() < EXPANSION_CHANCE
            and self.deals_made < self.options.deals
        ):
            start = clock.later(at_day, rng.randint(60, 300))
            if start < self.days:
                quality = rep.win * 1.6 * ICP_CLOSE[self.company_icp[ci]]
                self.new_deal(ci, start, clock.at(start), null, quality, speed * 0.7, cents)

    def month_index(self, day: int) -> int:
        date = self.options.first_day + dt.timedelta(days=day)
        return date.year * 12 + date.month - 1

    def flush(self) -> None:
        started = time.perf_counter()
        for model, columns, rows, key in (
            (Lead, LEAD_COLUMNS, self.lead_rows, "lead"),
            (Deal, DEAL_COLUMNS, self.deal_rows, "deal"),
            (StageChange, CHANGE_COLUMNS, self.change_rows, "stage change"),
        ):
            self.loader.write(model, columns, rows)
            self.rows[key] += len(rows)
            rows.clear()
        self.timed("write chunks", started)
        self.say(
            f"  {self.rows['deal']:>10,} deals, {self.rows['lead']:>10,} leads, "
            f"{self.rows['stage change']:>10,} stage changes"
        )

    # --- Targets --------------------------------------------------------------------------

    def write_targets(self) -> None:
        """Monthly and quarterly revenue targets for every rep and team, from the window's
        first month to the end of the next quarter. A rep's target for a past period is
        what they won then, bent by how ambitious it was set (their optimism); for the
        current and later periods, their last four quarters' average with 10 % growth.
        A leaf team's is the sum of its reps' with a stretch, a region's its teams' sum."""
        started = time.perf_counter()
        rng, clock, options = self.rng, self.clock, self.options
        first = options.first_day.year * 12 + options.first_day.month - 1
        today = options.last_day + dt.timedelta(days=1)
        current_quarter = (today.year * 12 + today.month - 1) // 3 * 3
        last_month = current_quarter + 5  # the end of the next quarter
        months = list(range(first, last_month + 1))
        quarters = sorted({month // 3 * 3 for month in months})
        past_end = options.last_day.year * 12 + options.last_day.month - 1

        def won(rep: int, month_list: list[int]) -> float:
            return sum(self.won_by_month.get((rep, m), 0) for m in month_list) / 100

        per_team: dict[tuple[str, str, int], int] = defaultdict(int)
        rows: list[tuple] = []
        self.loader.wait()  # the COPYs so far are done: the connection is free for queries
        target_id = _next_id(Target)
        manager_of = {
            str(team.pk): team.manager.pk if team.manager else None for team in self.teams
        }
        parent_of = {str(team.pk): team.parent_id for team in self.teams}

        def add(who: tuple[str | None, str | None], kind: str, month: int, value: int, by):
            nonlocal target_id
            day = dt.date(month // 12, month % 12 + 1, 1)
            updated = clock.text(clock.at(max(0, min(clock.day(day), self.days - 1))))
            user, team = who
            rows.append(
                (
                    str(target_id),
                    user if user else self.null,
                    team if team else self.null,
                    TargetMetric.REVENUE,
                    kind,
                    str(day),
                    f"{value}.00",
                    str(by) if by else self.null,
                    updated,
                )
            )
            target_id += 1

        for rep in self.reps:
            full = [q for q in quarters if q + 2 <= past_end][-4:]
            plan = sum(won(rep.index, [q, q + 1, q + 2]) for q in full) / max(1, len(full)) * 1.1
            manager = manager_of[rep.team_id]
            for kind, starts, size, unit in (
                (PeriodKind.MONTH, months, 1, 100),
                (PeriodKind.QUARTER, quarters, 3, 1000),
            ):
                for start in starts:
                    span = list(range(start, start + size))
                    base = won(rep.index, span) if start + size - 1 <= past_end else plan / 3 * size
                    noise = rng.uniform(0.92, 1.08)
                    value = max(unit, round(base * rep.optimism * noise / unit) * unit)
                    add((rep.user_id, None), kind, start, value, manager)
                    per_team[(rep.team_id, kind, start)] += value
        for team in self.leaf_teams + self.teams[: len(self.teams) - len(self.leaf_teams)]:
            team_id = str(team.pk)
            parent = parent_of[team_id]
            by = manager_of[str(parent)] if parent else self.admin_id
            for kind, starts in ((PeriodKind.MONTH, months), (PeriodKind.QUARTER, quarters)):
                for start in starts:
                    stretch = rng.uniform(1.0, 1.05) if parent else 1.0
                    value = round(per_team[(team_id, kind, start)] * stretch)
                    add((None, team_id), kind, start, value, by)
                    if parent:
                        per_team[(str(parent), kind, start)] += value
        self.loader.write(Target, TARGET_COLUMNS, rows)
        self.rows["target"] = len(rows)
        self.timed("targets", started)


def iter_table_rows(result: ScaleResult) -> Iterator[tuple[str, int]]:
    for key in ("team", "user", "company", "lead", "deal", "stage change", "target"):
        yield key, result.rows.get(key, 0)
