"""What every KPI means, in the words of docs/kpis.md: the glossary page, the tooltips and
the units the pages format numbers in. One entry per key of metrics.kpis.KPI_KEYS
(tests/metrics/test_definitions.py keeps the two, and the docs, in step)."""

from dataclasses import dataclass
from typing import Literal

Unit = Literal["count", "money", "rate", "days", "money_per_day"]
Better = Literal["up", "down", ""]


@dataclass(frozen=True)
class Definition:
    """One KPI: its label, what it tells a sales manager, its formula (both from
    docs/kpis.md), its unit, and which way is good ("" where neither is)."""

    key: str
    label: str
    meaning: str
    formula: str
    unit: Unit
    better: Better = "up"
    note: str = ""

    @property
    def short(self) -> str:
        """The one line a tooltip shows."""
        return f"{self.label}: {self.meaning} ({self.formula})."


_COHORT = (
    "A cohort rate: it follows what started in the period to whatever happened to it "
    "later, so a past period's figure keeps rising as its deals close."
)

DEFINITIONS: dict[str, Definition] = {
    d.key: d
    for d in [
        Definition(
            "leads_created",
            "Leads created",
            "how many new leads came in",
            "leads whose creation time is in the period",
            "count",
        ),
        Definition(
            "opportunities_created",
            "Opportunities created",
            "how many deals were opened",
            "deals created in the period",
            "count",
        ),
        Definition(
            "deals_won",
            "Deals won",
            "how many deals were decided",
            "deals whose close time is in the period, by outcome",
            "count",
            note="Counts the deals won.",
        ),
        Definition(
            "deals_lost",
            "Deals lost",
            "how many deals were decided",
            "deals whose close time is in the period, by outcome",
            "count",
            better="down",
            note="Counts the deals lost.",
        ),
        Definition(
            "revenue",
            "Revenue",
            "money won",
            "sum of the amounts of the deals won in the period",
            "money",
        ),
        Definition(
            "win_rate",
            "Win rate",
            "of the deals we decided, how many we won",
            "deals_won ÷ (deals_won + deals_lost)",
            "rate",
            note="Only looks at deals decided in the period. Undefined with no decided deal.",
        ),
        Definition(
            "close_rate",
            "Close rate",
            "of the leads that came in, how many became a customer",
            "leads created in the period that have a won deal by as of ÷ leads created in "
            "the period",
            "rate",
            note=f"“100 leads, 10 won = 10 %”. {_COHORT} Undefined with no lead.",
        ),
        Definition(
            "opportunity_close_rate",
            "Opportunity close rate",
            "of the deals we opened, how many we won",
            "deals created in the period and won by as of ÷ deals created in the period",
            "rate",
            note=f"{_COHORT} Undefined with no deal created.",
        ),
        Definition(
            "avg_deal_size",
            "Average deal size",
            "a typical win",
            "revenue ÷ deals_won",
            "money",
            note="Undefined with no win.",
        ),
        Definition(
            "sales_cycle_days_mean",
            "Sales cycle (mean)",
            "how long winning takes",
            "for deals won in the period: days from first contact to close; first contact "
            "is the lead's creation when the deal came from a lead, else the deal's creation",
            "days",
            better="down",
            note="The mean over the deals won. Undefined with no win.",
        ),
        Definition(
            "sales_cycle_days_median",
            "Sales cycle (median)",
            "how long winning takes",
            "for deals won in the period: days from first contact to close; first contact "
            "is the lead's creation when the deal came from a lead, else the deal's creation",
            "days",
            better="down",
            note="The median over the deals won: half took longer. Undefined with no win.",
        ),
        Definition(
            "open_deals",
            "Open deals",
            "deals in play",
            "deals open at the end of the period (or at as of, if earlier)",
            "count",
        ),
        Definition(
            "pipeline_value",
            "Pipeline",
            "money in play",
            "sum of the amounts of those open deals",
            "money",
            note="Those open deals: the ones open at the end of the period, or now if earlier.",
        ),
        Definition(
            "weighted_pipeline",
            "Weighted pipeline",
            "money in play, discounted by how far each deal got",
            "sum of amount × win probability of the stage each deal was in at that moment",
            "money",
        ),
        Definition(
            "sales_velocity",
            "Sales velocity",
            "money the pipeline turns into per day",
            "open_deals × win_rate × avg_deal_size ÷ sales_cycle_days_mean",
            "money_per_day",
            note="Undefined when any part is.",
        ),
        Definition(
            "clv",
            "Customer lifetime value",
            "what a customer is worth so far",
            "over companies with at least one won deal by the end of the period: their total "
            "won revenue up to then, averaged",
            "money",
        ),
        Definition(
            "target",
            "Target",
            "the goal",
            "the scope's revenue target for the period",
            "money",
            better="",
            note="Found by the rule under “How a period's target is found” below: whole "
            "periods add up, a period without a target takes its parts' or its share of the "
            "enclosing one, parts of months are prorated by days.",
        ),
        Definition(
            "attainment",
            "Attainment",
            "how far along the goal",
            "revenue ÷ target",
            "rate",
            note="Revenue so far against the whole period's target. Undefined without a target.",
        ),
    ]
}


# How a range's target is found (metrics.target_ranges): the glossary page shows these
# sentences and docs/kpis.md "Targets" says the same words (tests/metrics/test_definitions.py).
TARGET_RULE = [
    "A range made of whole calendar periods takes the sum of their targets: 1 Jan–30 Jun "
    "is the first quarter's target plus the second's, not the year's.",
    "A month, quarter or year takes the target set for it; without one, the sum of its "
    "parts' targets (a quarter's months, a year's quarters) when every part has one; else "
    "its share by days of the enclosing period's target (December is 31/92 of the fourth "
    "quarter's), shown as “from the quarter's target” or “from the year's target”; else the "
    "sum of the parts that have one. So a quarter with two of its three months set and a "
    "year target takes its share of the year's.",
    "Parts of months at a range's edges are prorated by days: 15 Jan–10 Feb is 17/31 of "
    "January's target plus 10/28 of February's, each month's found as above.",
    "A month, quarter or year to date (the nightly snapshots, the API's period parameter) "
    "compares revenue so far with the whole period's target: on 23 November, 80,000 won "
    "against a 100,000 November target is an attainment of 0.8.",
    "The sums and shares are exact; the target is rounded once, at the end, to the cent, "
    "half up, and attainment is revenue ÷ that target.",
    "A team's target is the one set for the team (reps' targets are not added up); the "
    "organisation's is the sum of its top-level teams' targets, each found by this rule.",
]


@dataclass(frozen=True)
class Term:
    """A word the dashboards use that is not a KPI of the engine."""

    key: str
    label: str
    text: str


TERMS: dict[str, Term] = {
    t.key: t
    for t in [
        Term(
            "previous_period",
            "Previous period",
            "The change under a figure compares it with the calendar period before (the "
            "previous month, quarter or year, whole) or, for a custom range, with the range "
            "of the same length just before it. Rates change in percentage points, money "
            "and counts in per cent, days in days.",
        ),
        Term(
            "team_median",
            "Team median",
            "The middle value of the figure over the sales reps of the rep's team: half the "
            "team did better, half worse. Reps without a defined value are left out. A rep "
            "sees it only when at least 5 reps have the figure, so that no teammate's figure "
            "can be worked out from it.",
        ),
        Term(
            "closing_soon",
            "Closing soon",
            "Open deals whose expected close date falls in the next 30 days, or has "
            "already passed (overdue).",
        ),
        Term(
            "stale_deal",
            "Stale deal",
            "An open deal that has not moved stage for 21 days or more: its last stage "
            "change (or its creation, if it never moved) is older than that.",
        ),
        Term(
            "funnel",
            "Funnel",
            "Of the deals created in the period, how many reached each open stage and how "
            "many were won by now. A deal that skipped a stage counts as having reached it. "
            "Conversion is the share of the deals at one step that reached the next; won ÷ "
            "created is the opportunity close rate.",
        ),
        Term(
            "pipeline_by_stage",
            "Pipeline by stage",
            "The open deals at the end of the period (or now, if earlier) by the stage each "
            "was in at that moment: their number, amount and weighted amount. The stages add "
            "up to the pipeline and the weighted pipeline.",
        ),
    ]
}
