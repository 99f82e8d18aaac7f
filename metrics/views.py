"""The dashboard pages. Who may see a scope is decided as in the KPI API
(accounts.access.scope_or_404): a rep their own page, a manager their team tree and its
people, an admin everything; anything else is a 404."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import Capability, can, scope_or_404, sees_team_of, team_page_or_404
from accounts.models import Team, User
from pipeline.exports import csv_lines

from . import dashboards
from .choices import ScopeKind
from .dashboards.tables import KPI_TABLE_COLUMNS, kpi_table_rows
from .definitions import DEFINITIONS, TARGET_RULE, TERMS


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each user to their dashboard: admins the organisation, managers their team,
    everyone else their own performance."""
    user = request.user
    if can(user, Capability.SEE_ORG):
        return redirect("metrics:org-dashboard")
    if can(user, Capability.SEE_TEAM) and (team_id := dashboards.home_team_id(user=user)):
        return redirect("metrics:team-dashboard", team_id=team_id)
    return redirect("metrics:my-performance")


def _period_context(request: HttpRequest, now) -> dict:
    today = timezone.localdate(now)
    period, form = dashboards.period_from_params(request.GET, today=today)
    return {"period": period, "picker": dashboards.period_picker(period, form, today=today)}


@login_required
def my_performance(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own performance."""
    return _rep_page(request, subject=request.user, own_page=True)


@login_required
def rep_performance(request: HttpRequest, user_id: int) -> HttpResponse:
    """A rep's performance, for themselves and the managers of their team tree."""
    subject = scope_or_404(request.user, ScopeKind.USER, user_id)
    return _rep_page(request, subject=subject, own_page=subject.pk == request.user.pk)


def _rep_page(request: HttpRequest, *, subject: User, own_page: bool) -> HttpResponse:
    now = timezone.now()
    context = _period_context(request, now)
    dashboard = dashboards.rep_dashboard(
        viewer=request.user, subject=subject, period=context["period"], now=now
    )
    # The way back to the team page, when the viewer may see that team.
    team_link = None
    if not own_page and sees_team_of(request.user, subject.team_id):
        team_link = subject.team
    return render(
        request,
        "metrics/rep_performance.html",
        {
            **context,
            "dashboard": dashboard,
            "subject": subject,
            "subject_name": subject.get_full_name() or subject.username,
            "own_page": own_page,
            "team_link": team_link,
        },
    )


@login_required
def team_dashboard(request: HttpRequest, team_id: int) -> HttpResponse:
    """A team with its sub-teams and reps, for the managers of its tree and admins; a rep
    of the team gets their read-only view of it (accounts.access.team_page_or_404)."""
    team, full = team_page_or_404(request.user, team_id)
    now = timezone.now()
    context = _period_context(request, now)
    if not full:
        dashboard = dashboards.rep_team_dashboard(
            viewer=request.user, team=team, period=context["period"], now=now
        )
        return render(
            request,
            "metrics/team_for_rep.html",
            {**context, "dashboard": dashboard, "team": team},
        )
    sort = dashboards.parse_sort(request.GET.get("sort"))
    dashboard = dashboards.team_dashboard(
        viewer=request.user, team=team, period=context["period"], now=now, sort=sort
    )
    parent_link = None
    if sees_team_of(request.user, team.parent_id):
        parent_link = team.parent
    return render(
        request,
        "metrics/team_dashboard.html",
        {
            **context,
            "dashboard": dashboard,
            "team": team,
            "sort": sort,
            "parent_link": parent_link,
            "org_link": can(request.user, Capability.SEE_ORG),
        },
    )


@login_required
def org_dashboard(request: HttpRequest) -> HttpResponse:
    """Every team side by side, for admins."""
    scope_or_404(request.user, ScopeKind.ORG, None)
    now = timezone.now()
    context = _period_context(request, now)
    sort = dashboards.parse_sort(request.GET.get("sort"))
    dashboard = dashboards.org_dashboard(period=context["period"], now=now, sort=sort)
    return render(
        request, "metrics/org_dashboard.html", {**context, "dashboard": dashboard, "sort": sort}
    )


def _kpi_table_response(request: HttpRequest, *, team: Team | None, name: str):
    now = timezone.now()
    period = _period_context(request, now)["period"]
    rows = kpi_table_rows(team=team, period=period, now=now)
    response = StreamingHttpResponse(
        csv_lines(KPI_TABLE_COLUMNS, rows), content_type="text/csv; charset=utf-8"
    )
    filename = f"kpis-{name}-{period.start}-{period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def team_export(request: HttpRequest, team_id: int) -> HttpResponse:
    """The team page's KPI tables (the team, its sub-teams, its reps) as CSV."""
    team = scope_or_404(request.user, ScopeKind.TEAM, team_id)
    return _kpi_table_response(request, team=team, name=slugify(team.name) or str(team.pk))


@login_required
def org_export(request: HttpRequest) -> HttpResponse:
    """Every team and rep of the organisation with every KPI, as CSV; for admins."""
    scope_or_404(request.user, ScopeKind.ORG, None)
    return _kpi_table_response(request, team=None, name="organisation")


@login_required
def glossary(request: HttpRequest) -> HttpResponse:
    """Every KPI's definition, one anchor per key (#win_rate), and the dashboards' terms."""
    return render(
        request,
        "metrics/glossary.html",
        {
            "definitions": list(DEFINITIONS.values()),
            "terms": list(TERMS.values()),
            "target_rule": TARGET_RULE,
            "time_zone": settings.TIME_ZONE,
        },
    )
