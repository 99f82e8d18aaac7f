"""Pages where managers set revenue targets and read who changed them."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.access import Capability, can
from accounts.selectors import people_of_teams

from .choices import PeriodKind
from .services import targets_set
from .targets import (
    MAX_INDENT,
    YEAR_MAX,
    YEAR_MIN,
    TargetGridQuery,
    grid_apply_post,
    subtree,
    target_changes,
    target_grid,
    target_history_entries,
    target_teams,
)

HISTORY_PAGE_SIZE = 50


def _require_target_manager(user) -> None:
    if not can(user, Capability.MANAGE_TARGETS):
        raise PermissionDenied("Only managers and admins set targets.")


@login_required
@require_http_methods(["GET", "POST"])
def targets(request: HttpRequest) -> HttpResponse:
    """The grid of a team tree's revenue targets for one year, saved all at once."""
    _require_target_manager(request.user)
    teams = target_teams(user=request.user)
    query = TargetGridQuery(request.GET, teams=teams)
    kind, year, root_id = query.choice()
    grid = target_grid(teams=subtree(teams, root_id) if root_id else [], kind=kind, year=year)
    if request.method == "POST":
        changes = grid_apply_post(grid, request.POST)
        if grid.is_valid:
            try:
                count = targets_set(by=request.user, changes=changes)
            except IntegrityError:
                # Two saves created the same target at once; the other one won.
                grid.errors.append("Someone saved these targets at the same time. Try again.")
            else:
                if count:
                    messages.success(request, f"Saved {count} change{'s' if count != 1 else ''}.")
                else:
                    messages.info(request, "Nothing to save: no target changed.")
                return redirect(request.get_full_path())
    this_year = timezone.localdate().year
    context = {
        "grid": grid,
        "query": query,
        "root": next((node for node in teams if node.id == root_id), None),
        "show_team_picker": len(teams) > 1,
        "kinds": PeriodKind.choices,
        "years": sorted({*range(this_year - 3, this_year + 3), year}),
        "previous_year": year - 1 if year > YEAR_MIN else None,
        "next_year": year + 1 if year < YEAR_MAX else None,
    }
    return render(request, "metrics/targets.html", context)


class TargetHistoryFilter(forms.Form):
    """Filters of the history page; a bad value is reported and ignored."""

    owner = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(
        choices=[("", "Any period"), *PeriodKind.choices], required=False, label="Period"
    )
    year = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, data, *, teams, people):
        super().__init__(data)
        this_year = timezone.localdate().year
        self.fields["year"].choices = [
            ("", "Any year"),
            *((year, str(year)) for year in range(this_year + 2, this_year - 11, -1)),
        ]
        self.fields["owner"].choices = [
            ("", "Every team and person"),
            (
                "Teams",
                [(f"team-{t.id}", "\u2003" * min(t.depth, MAX_INDENT) + t.name) for t in teams],
            ),
            ("People", [(f"user-{p.pk}", str(p)) for p in people]),
        ]

    def filter(self, changes):
        self.is_valid()
        data = self.cleaned_data
        if owner := data.get("owner"):
            kind, owner_id = owner.split("-")
            changes = changes.filter(**{f"{kind}_id": int(owner_id)})
        if kind := data.get("kind"):
            changes = changes.filter(period_kind=kind)
        if year := data.get("year"):
            changes = changes.filter(period_start__year=year)
        return changes


@login_required
def target_history(request: HttpRequest) -> HttpResponse:
    """Every change of the targets of the user's tree, newest first."""
    _require_target_manager(request.user)
    teams = target_teams(user=request.user)
    team_ids = [node.id for node in teams]
    filters = TargetHistoryFilter(request.GET, teams=teams, people=people_of_teams(team_ids))
    # Rows of a person follow the person's current team.
    changes = target_changes(team_ids=team_ids)
    page = Paginator(filters.filter(changes), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = target_history_entries(page.object_list)
    return render(request, "metrics/target_history.html", {"page": page, "filters": filters})
