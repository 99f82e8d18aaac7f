"""Reads of the dashboard pages: the period a page shows, each page's figures, their trend
from the snapshot tables, and the deals that need attention.

Every KPI comes from metrics.kpis (never recomputed here); this package picks the scopes
and periods, compares, ranks and shapes. Each page is a fixed number of queries, whatever
the number of deals: the grouped forms (kpis_by_user, kpis_by_team) for many scopes at
once, one query per snapshot series, set-based subqueries for the deal lists.
"""

from .deals import (
    CLOSING_SOON_DAYS,
    STALE_AFTER_DAYS,
    DealLists,
    DealRow,
    deals_needing_attention,
)
from .figures import (
    DEFAULT_SORT,
    SORT_KEYS,
    Figure,
    Goal,
    Ranked,
    figures,
    goal,
    median_kpis,
    parse_sort,
    sort_ranked,
)
from .pages import (
    DETAIL_KEYS,
    HEADLINE_KEYS,
    RepDashboard,
    RepTeamDashboard,
    ScopeDashboard,
    StagePipelineChart,
    home_team_id,
    org_dashboard,
    rep_dashboard,
    rep_team_dashboard,
    team_dashboard,
)
from .period_picker import (
    CUSTOM,
    Period,
    PeriodForm,
    PeriodPicker,
    calendar_period,
    period_from_params,
    period_picker,
)
from .trends import Trend, TrendMonth, monthly_trend

__all__ = [
    "CLOSING_SOON_DAYS",
    "CUSTOM",
    "DEFAULT_SORT",
    "DETAIL_KEYS",
    "HEADLINE_KEYS",
    "SORT_KEYS",
    "STALE_AFTER_DAYS",
    "DealLists",
    "DealRow",
    "Figure",
    "Goal",
    "Period",
    "PeriodForm",
    "PeriodPicker",
    "Ranked",
    "RepDashboard",
    "RepTeamDashboard",
    "ScopeDashboard",
    "StagePipelineChart",
    "Trend",
    "TrendMonth",
    "calendar_period",
    "deals_needing_attention",
    "figures",
    "goal",
    "home_team_id",
    "median_kpis",
    "monthly_trend",
    "org_dashboard",
    "parse_sort",
    "period_from_params",
    "period_picker",
    "rep_dashboard",
    "rep_team_dashboard",
    "sort_ranked",
    "team_dashboard",
]
