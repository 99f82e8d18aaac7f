"""The targets grid: which teams and reps a manager sets revenue targets for (rows), which
periods (columns), the values stored for them (one query), and a posted grid turned into
checked changes for metrics.services.targets_set, with an error per bad cell."""

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django import forms
from django.db.models import Case, F, OuterRef, Q, Subquery, When
from django.utils import timezone

from accounts.access import Capability, can, restrict
from accounts.choices import Role
from accounts.models import Team, User
from periods.calendar import FIRST_DAY, LAST_DAY

from .choices import PeriodKind, TargetMetric
from .models import Target
from .services import CENT, TARGET_MAX, TargetCell

# t-<team|user>-<id>-<first day of the period>, e.g. t-user-42-2026-04-01
CELL_NAME = re.compile(r"t-(team|user)-(\d{1,18})-(\d{4}-\d{2}-\d{2})")
CELL_PREFIX = "t-"
YEAR_MIN, YEAR_MAX = FIRST_DAY.year, LAST_DAY.year  # the calendar's bounds
MAX_INDENT = 6  # deeper teams are drawn at this indent (templates/metrics/targets.html)


# --- Rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamNode:
    id: int
    name: str
    parent_id: int | None
    depth: int  # 0 for a team whose parent is outside the user's tree


def target_teams(*, user) -> list[TeamNode]:
    """The teams whose targets `user` sets, depth-first and by name within a parent:
    every team for an admin, a manager's tree (accounts.access)."""
    if not can(user, Capability.MANAGE_TARGETS):
        return []
    teams = restrict(Team.objects.order_by("name"), user)
    rows = list(teams.values_list("id", "name", "parent_id"))
    ids = {team_id for team_id, _, _ in rows}
    children: dict[int | None, list[tuple[int, str, int | None]]] = defaultdict(list)
    for row in rows:
        children[row[2] if row[2] in ids else None].append(row)
    nodes: list[TeamNode] = []
    stack = [(row, 0) for row in reversed(children[None])]
    while stack:
        (team_id, name, parent_id), depth = stack.pop()
        nodes.append(TeamNode(team_id, name, parent_id, depth))
        stack.extend((child, depth + 1) for child in reversed(children[team_id]))
    return nodes


def subtree(teams: list[TeamNode], root_id: int) -> list[TeamNode]:
    """`root_id` and the teams below it; `teams` in depth-first order (see target_teams)."""
    for index, node in enumerate(teams):
        if node.id == root_id:
            end = index + 1
            while end < len(teams) and teams[end].depth > node.depth:
                end += 1
            return teams[index:end]
    return []


# --- Columns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    start: dt.date
    label: str
    hint: str  # the months it spans


def grid_columns(kind: str, year: int) -> list[Column]:
    """The 12 months, the 4 quarters, or the one year of `year`."""
    if kind == PeriodKind.MONTH:
        return [
            Column(dt.date(year, m, 1), dt.date(year, m, 1).strftime("%b"), "")
            for m in range(1, 13)
        ]
    if kind == PeriodKind.QUARTER:
        return [
            Column(
                dt.date(year, 3 * q - 2, 1),
                f"Q{q}",
                f"{dt.date(year, 3 * q - 2, 1):%b}–{dt.date(year, 3 * q, 1):%b}",
            )
            for q in range(1, 5)
        ]
    return [Column(dt.date(year, 1, 1), str(year), "Jan–Dec")]


# --- The grid -----------------------------------------------------------------------------


@dataclass
class Cell:
    name: str
    start: dt.date
    stored: Decimal | None
    text: str  # what the input shows: the stored value, or what was posted
    amount: Decimal | None  # the number shown, for totals; None when empty or invalid
    error: str = ""

    @property
    def original(self) -> str:
        return show_amount(self.stored)


@dataclass
class SumLine:
    """A hint under a team row: what its reps' (or sub-teams') targets add up to."""

    label: str
    amounts: list[Decimal | None]
    total: Decimal | None
    of: str  # "reps" or "teams"


@dataclass
class Row:
    kind: str  # "team" or "user"
    owner_id: int
    label: str
    depth: int
    team_id: int | None  # a rep's team; a team's parent (None at the top of the grid)
    cells: list[Cell]
    sums: list[SumLine] = field(default_factory=list)
    note: str = ""  # under a team's name: what it holds

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.owner_id}"

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_INDENT)

    @property
    def total(self) -> Decimal | None:
        return _sum(cell.amount for cell in self.cells)

    @property
    def parent_key(self) -> str:
        return f"team-{self.team_id}" if self.team_id else ""


@dataclass
class TargetGrid:
    kind: str
    year: int
    columns: list[Column]
    rows: list[Row]
    errors: list[str] = field(default_factory=list)  # errors of no single visible cell

    @property
    def cell_errors(self) -> int:
        return sum(1 for row in self.rows for cell in row.cells if cell.error)

    @property
    def is_valid(self) -> bool:
        return not self.errors and not self.cell_errors

    @property
    def rep_count(self) -> int:
        return sum(1 for row in self.rows if row.kind == "user")

    @property
    def team_count(self) -> int:
        return sum(1 for row in self.rows if row.kind == "team")


def _sum(amounts: Iterable[Decimal | None]) -> Decimal | None:
    known = [amount for amount in amounts if amount is not None]
    return sum(known, Decimal(0)) if known else None


def cell_name(kind: str, owner_id: int, start: dt.date) -> str:
    return f"{CELL_PREFIX}{kind}-{owner_id}-{start.isoformat()}"


def show_amount(value: Decimal | None) -> str:
    """A value as an input shows it: 125,000 or 1,250.5; empty for none."""
    if value is None:
        return ""
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def target_grid(*, teams: list[TeamNode], kind: str, year: int) -> TargetGrid:
    """The grid of `teams` (a subtree, depth-first): each team, then its active reps, with
    their stored revenue targets for the periods of `year`. Two queries whatever the size."""
    columns = grid_columns(kind, year)
    team_ids = [node.id for node in teams]
    reps_by_team: dict[int, list[User]] = defaultdict(list)
    reps = User.objects.filter(team_id__in=team_ids, role=Role.REP, is_active=True).only(
        "id", "first_name", "last_name", "username", "team_id"
    )
    for rep in sorted(reps, key=lambda u: (str(u).lower(), u.pk)):
        reps_by_team[rep.team_id].append(rep)
    stored: dict[tuple[str, int, dt.date], Decimal] = {}
    if team_ids:
        owners = Q(team_id__in=team_ids) | Q(user_id__in=[r.pk for r in reps])
        for user_id, team_id, start, value in Target.objects.filter(
            owners,
            metric=TargetMetric.REVENUE,
            period_kind=kind,
            period_start__in=[column.start for column in columns],
        ).values_list("user_id", "team_id", "period_start", "value"):
            owner = ("user", user_id) if user_id else ("team", team_id)
            stored[(*owner, start)] = value

    def cells(owner_kind: str, owner_id: int) -> list[Cell]:
        result = []
        for column in columns:
            value = stored.get((owner_kind, owner_id, column.start))
            name = cell_name(owner_kind, owner_id, column.start)
            result.append(Cell(name, column.start, value, show_amount(value), value))
        return result

    in_grid = set(team_ids)
    rows = []
    for node in teams:
        parent_id = node.parent_id if node.parent_id in in_grid else None
        rows.append(Row("team", node.id, node.name, node.depth, parent_id, cells("team", node.id)))
        for rep in reps_by_team[node.id]:
            rows.append(
                Row("user", rep.pk, str(rep), node.depth + 1, node.id, cells("user", rep.pk))
            )
    grid = TargetGrid(kind=kind, year=year, columns=columns, rows=rows)
    update_sums(grid)
    return grid


def update_sums(grid: TargetGrid) -> None:
    """The hints under each team row: its reps' targets and its sub-teams' targets, summed
    per period (static/js/targets.js keeps them live while typing)."""
    children: dict[int, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in grid.rows:
        if row.team_id is not None:
            children[row.team_id]["reps" if row.kind == "user" else "teams"].append(row)
    for row in grid.rows:
        if row.kind != "team":
            continue
        reps, teams = len(children[row.owner_id]["reps"]), len(children[row.owner_id]["teams"])
        parts = [f"{reps} rep{'s' if reps != 1 else ''}"] if reps or not teams else []
        parts += [f"{teams} team{'s' if teams != 1 else ''}"] if teams else []
        row.note = " · ".join(["Team", *parts])
        row.sums = []
        for of, label in (("reps", "Sum of reps"), ("teams", "Sum of sub-teams")):
            below = children[row.owner_id][of]
            if below:
                amounts = [
                    _sum(child.cells[i].amount for child in below) for i in range(len(grid.columns))
                ]
                row.sums.append(SumLine(label, amounts, _sum(amounts), of))


# --- Posted grids -------------------------------------------------------------------------


# Thousands grouped by a comma, a space or an underscore: 1,250,000.50. A lone "1,5" is
# refused rather than guessed (a decimal comma, or a typo for 15?).
GROUPED = re.compile(r"\d{1,3}(?:[,_ \u00a0\u202f]\d{3})+(?:\.\d+)?")
SEPARATORS = re.compile(r"[,_ \u00a0\u202f]")


def parse_amount(text: str) -> Decimal | None:
    """A typed target: empty is none; else a number ≥ 0, thousands optionally grouped, with
    at most 12 digits before the point and 2 after. Raises ValueError with the message a
    person reads."""
    text = text.strip()
    if not text:
        return None
    if GROUPED.fullmatch(text):
        text = SEPARATORS.sub("", text)
    try:
        value = Decimal(text) if len(text) <= 40 and "_" not in text else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValueError("Enter a number.")
    if value < 0:
        raise ValueError("Cannot be negative.")
    if value >= TARGET_MAX:
        raise ValueError("Too large: at most 12 digits.")
    if value != value.quantize(CENT):
        raise ValueError("At most 2 decimals.")
    return value.quantize(CENT)


OUTSIDE = "A cell names a team or a person outside your teams; nothing was saved."
NOT_A_PERIOD = "A cell names a period that is not in this grid; nothing was saved."
NOT_A_CELL = "A field is not a cell of this grid; nothing was saved."


def grid_apply_post(grid: TargetGrid, data: Mapping[str, str]) -> list[TargetCell]:
    """Put the posted values into `grid` (so a page with errors shows what was typed) and
    return the cells that change. Errors go to the cell (not a number, negative, too large)
    or to grid.errors (a cell of a team or person outside the grid, crafted by hand); the
    caller saves nothing unless grid.is_valid. Cells not posted stay as they are; a posted
    empty cell clears its target."""
    by_name = {cell.name: (row, cell) for row in grid.rows for cell in row.cells}
    owners = {(row.kind, row.owner_id) for row in grid.rows}
    changes: list[TargetCell] = []
    errors: set[str] = set()
    for name in data:
        if not name.startswith(CELL_PREFIX):
            continue
        if name not in by_name:
            match = CELL_NAME.fullmatch(name)
            if match is None:
                errors.add(NOT_A_CELL)
            elif (match[1], int(match[2])) not in owners:
                errors.add(OUTSIDE)
            else:
                errors.add(NOT_A_PERIOD)
            continue
        row, cell = by_name[name]
        typed = str(data[name])
        cell.text = typed[:60]  # enough to show what was wrong
        try:
            cell.amount = parse_amount(typed)
        except ValueError as error:
            cell.amount, cell.error = None, str(error)
            continue
        if cell.amount != cell.stored:
            owner = {"user_id": row.owner_id} if row.kind == "user" else {"team_id": row.owner_id}
            changes.append(TargetCell(grid.kind, cell.start, cell.amount, **owner))
    grid.errors = sorted(errors)
    update_sums(grid)
    return changes


# --- What the page shows ------------------------------------------------------------------


class TargetGridQuery(forms.Form):
    """The toolbar: period kind, year and (with a tree of several teams) the team. A bad
    value falls back to its default with a field error; it never fails the page."""

    kind = forms.ChoiceField(choices=PeriodKind.choices, required=False)
    year = forms.IntegerField(min_value=YEAR_MIN, max_value=YEAR_MAX, required=False)
    team = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, data, *, teams: list[TeamNode]):
        super().__init__(data)
        self.teams = teams
        self.fields["team"].choices = [
            (node.id, "\u2003" * min(node.depth, MAX_INDENT) + node.name) for node in teams
        ]

    def choice(self) -> tuple[str, int, int | None]:
        """(kind, year, root team id) with defaults: quarter, this year, the first top team."""
        self.is_valid()
        data = self.cleaned_data
        kind = data.get("kind") or PeriodKind.QUARTER
        year = data.get("year") or timezone.localdate().year
        team = data.get("team") or (self.teams[0].id if self.teams else None)
        return kind, year, team


# --- History ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetHistoryEntry:
    """One change of one target, as the history page shows it."""

    changed_at: dt.datetime
    changed_by: User | None
    user: User | None
    team: Team | None
    period_kind: str
    period_start: dt.date
    old_value: Decimal | None  # None: the target was created
    new_value: Decimal | None  # None: the target was cleared

    @property
    def period_label(self) -> str:
        """'Mar 2026', 'Q1 2026' or '2026'."""
        start = self.period_start
        if self.period_kind == PeriodKind.MONTH:
            return start.strftime("%b %Y")
        if self.period_kind == PeriodKind.QUARTER:
            return f"Q{(start.month - 1) // 3 + 1} {start.year}"
        return str(start.year)

    def get_period_kind_display(self) -> str:
        return PeriodKind(self.period_kind).label

    @property
    def delta(self) -> Decimal | None:
        """New minus old value; None when the target was created or cleared."""
        if self.old_value is None or self.new_value is None:
            return None
        return self.new_value - self.old_value


def target_changes(*, team_ids: Iterable[int] | None):
    """The target audit trail (simple-history rows of Target) of these teams and of the
    people now in them (None: of everyone), newest first, each row with the value it
    replaced (`old_value`, that of the same target's row before it; none for a creation)
    and the one it set (`new_value`; none when cleared). Rows that changed no value are
    left out."""
    history = Target.history.model
    before = history.objects.filter(id=OuterRef("id")).filter(
        Q(history_date__lt=OuterRef("history_date"))
        | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
    )
    previous = Subquery(before.order_by("-history_date", "-history_id").values("value")[:1])
    rows = history.objects.all()
    if team_ids is not None:
        team_ids = list(team_ids)
        rows = rows.filter(Q(team_id__in=team_ids) | Q(user__team_id__in=team_ids))
    return (
        rows.annotate(
            old_value=Case(
                When(history_type="+", then=None),
                When(history_type="-", then=F("value")),
                default=previous,
            ),
            new_value=Case(When(history_type="-", then=None), default=F("value")),
        )
        .exclude(Q(history_type="~") & Q(old_value=F("value")))
        .select_related("history_user", "user__team", "team")
        .order_by("-history_date", "-history_id")
    )


def target_history_entries(rows) -> list[TargetHistoryEntry]:
    return [
        TargetHistoryEntry(
            changed_at=row.history_date,
            changed_by=row.history_user,
            user=row.user,
            team=row.team,
            period_kind=row.period_kind,
            period_start=row.period_start,
            old_value=row.old_value,
            new_value=row.new_value,
        )
        for row in rows
    ]
