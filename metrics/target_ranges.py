"""The revenue target of any range of days, from one owner's targets (docs/kpis.md,
"Targets"): the one rule the pages, the API and the nightly snapshot use.

A range is cut into whole calendar periods and, at its edges, parts of months
(periods.calendar.range_pieces); the range's target is the sum of theirs, a part of a month
taking its share of the month's by days. A period's target is, in this order: the one set
for it; the sum of its parts' (a quarter's months, a year's quarters) when every part has
one; its share by days of the enclosing period's (a month of its quarter's, a quarter of its
year's); the sum of the parts that have one. The arithmetic is exact (fractions) and the
caller rounds once, to the cent, half up.
"""

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from periods import calendar as periods

Plan = dict[tuple[str, dt.date], Decimal]


@dataclass
class _Source:
    """Which targets a derived figure was made of, to say so on the page."""

    own: Counter[str] = field(default_factory=Counter)  # kind -> targets added up
    share: set[str] = field(default_factory=set)  # kinds a share by days was taken of
    prorated: bool = False  # a part of a month
    incomplete: bool = False  # some parts had no target at all

    def merge(self, other: "_Source") -> None:
        self.own.update(other.own)
        self.share |= other.share
        self.prorated |= other.prorated
        self.incomplete |= other.incomplete


_Value = tuple[Fraction, _Source]
_ORDER = ["month", "quarter", "year"]


@dataclass(frozen=True)
class RangeTarget:
    """A range's target, exact, and where it comes from ("" when it is the target set for
    exactly that calendar period)."""

    value: Fraction
    basis: str


def _own(plan: Plan, kind: str, first: dt.date) -> _Value | None:
    if (kind, first) not in plan:
        return None
    return Fraction(plan[(kind, first)]), _Source(own=Counter({kind: 1}))


def _down(plan: Plan, kind: str, first: dt.date) -> _Value | None:
    """The target set for the period or, when every part has one, the sum of its parts'."""
    own = _own(plan, kind, first)
    if own is not None:
        return own
    children = periods.child_periods(kind, first)
    parts = [_down(plan, *child) for child in children]
    if not children or any(part is None for part in parts):
        return None
    return _sum([part for part in parts if part is not None])


def _up(plan: Plan, kind: str, first: dt.date) -> _Value | None:
    """_down, or else the period's share by days of the enclosing period's target."""
    down = _down(plan, kind, first)
    if down is not None:
        return down
    parent = periods.parent_period(kind, first)
    if parent is None:
        return None
    enclosing = _up(plan, *parent)
    if enclosing is None:
        return None
    # The enclosing target is a set one: were it a sum of parts, this period had its own.
    value, source = enclosing
    share = Fraction(periods.period_days(kind, first), periods.period_days(*parent))
    return value * share, _Source(share={*source.own, *source.share})


def period_target(plan: Plan, kind: str, first: dt.date) -> _Value | None:
    """A whole calendar period's target, by the rule of the module docstring."""
    value = _up(plan, kind, first)
    if value is not None:
        return value
    known = [part for child in periods.child_periods(kind, first) if (part := _down(plan, *child))]
    if not known:
        return None
    total, source = _sum(known)
    source.incomplete = True
    return total, source


def _sum(values: list[_Value]) -> _Value:
    total, source = Fraction(0), _Source()
    for value, part in values:
        total += value
        source.merge(part)
    return total, source


def target_for_range(
    plan: Plan, start: dt.date, end: dt.date, period: str | None = None
) -> RangeTarget | None:
    """The target of start..end from one owner's targets keyed by (period kind, first day).

    With `period` (a month, quarter or year to date, as the snapshots and the API's
    `period=` ask) the whole calendar period's target that contains `start`: attainment to
    date compares revenue so far with it. Otherwise the range rule of the module docstring.
    None when no target applies at all."""
    if period is not None:
        first = periods.period_start(start, period)
        found = period_target(plan, period, first)
        return None if found is None else RangeTarget(found[0], _basis(found[1], exact=True))
    pieces = periods.range_pieces(start, end)
    values: list[_Value] = []
    missing = False
    for kind, first, days in pieces:
        found = period_target(plan, kind, first)
        if found is None:
            missing = True
            continue
        value, source = found
        whole = periods.period_days(kind, first)
        if days < whole:
            value *= Fraction(days, whole)
            source.prorated = bool(source.own)
        values.append((value, source))
    if not values:
        return None
    total, source = _sum(values)
    source.incomplete |= missing
    exact = len(pieces) == 1 and not source.prorated
    return RangeTarget(total, _basis(source, exact=exact))


def _basis(source: _Source, *, exact: bool) -> str:
    """Where a target comes from, in the goal card's words: "" for the target set for
    exactly the period shown; else "sum of the months' targets", "from the quarter's
    target", "the month's target, prorated by days"..."""
    own = [kind for kind in _ORDER if source.own[kind]]
    shared = [kind for kind in _ORDER if kind in source.share]
    if exact and sum(source.own.values()) == 1 and not shared and not source.incomplete:
        return ""
    phrases = []
    if len(own) == 1 and source.own[own[0]] == 1:
        phrases.append(f"the {own[0]}'s target")
    elif len(own) == 1:
        phrases.append(f"sum of the {own[0]}s' targets")
    elif own:
        phrases.append(f"sum of the {' and '.join(own)} targets")
    if shared:
        ancestors = " and the ".join(f"{kind}'s" for kind in shared)
        target = "targets" if len(shared) > 1 else "target"
        phrases.append(f"{'a share of' if own else 'from'} the {ancestors} {target}")
    text = " and ".join(phrases)
    if source.prorated:
        text += ", prorated by days"
    if source.incomplete:
        text += "; not every part has a target"
    return text


def to_money(value: Fraction) -> Decimal:
    """An exact target as money: to the cent, half up, once (targets are not negative)."""
    cents = math.floor(value * 100 + Fraction(1, 2))
    return Decimal(cents).scaleb(-2)
