"""Who may see and do what: the one home of the role rules of DESIGN.md.

Every page, endpoint, export, chart, import and KPI scope asks this module, and nothing
else reads a role:

- `restrict(queryset, user, action)` narrows any queryset of a guarded model to the rows
  the user may see ("view") or change ("change", "delete");
- `can(user, action, obj=None)` answers for one object, or, with no object, for a
  capability of the user (`Capability`: see the organisation, pick owners, set targets…);
- `get_visible_or_404(queryset, user, action, **lookup)` loads one object: a row the user
  may not see is a 404 exactly like a row that does not exist (so ids leak nothing), and a
  row they see but may not change is a 403;
- `scope_or_404(user, kind, scope_id)` does the same for a KPI scope (org, team, user).

The rules: a rep sees and edits their own leads and deals and reads their own and their
team's targets; a manager everything of the teams they manage and their own team, with
every sub-team (the "tree"), and sets its targets except their own; an admin everything.
Anonymous users see nothing. This module imports no other app (accounts sits below
pipeline and metrics), so rules for their models are keyed by the models' fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from .choices import Role
from .models import Team, User
from .selectors import team_tree_ids

M = TypeVar("M", bound=Model)

VIEW, CHANGE, DELETE = "view", "change", "delete"
ACTIONS = (VIEW, CHANGE, DELETE)


class Capability(StrEnum):
    """What a user may do regardless of any one object."""

    SEE_ORG = "see_org"  # the organisation's figures, dashboard and export
    SEE_TEAM = "see_team"  # other people's rows in lists (owner columns and filters)
    ASSIGN_OWNER = "assign_owner"  # give a deal or lead to someone else
    MANAGE_TARGETS = "manage_targets"  # the targets grid and its history
    IMPORT_DEALS = "import_deals"
    IMPORT_PEOPLE = "import_people"
    EXPORT_PEOPLE = "export_people"
    CHANGE_CATALOGUE = "change_catalogue"  # stages, products, lead sources
    RESTORE_DELETED = "restore_deleted"  # bring back a soft-deleted deal or lead
    USE_ADMIN = "use_admin"


# --- Roles ---------------------------------------------------------------------------------


def _is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN))


def _is_manager(user: Any) -> bool:
    return bool(user.is_authenticated and user.role == Role.MANAGER)


_CAPABILITIES: dict[Capability, tuple[bool, bool]] = {
    # capability: (managers, reps); admins have every capability.
    Capability.SEE_ORG: (False, False),
    Capability.SEE_TEAM: (True, False),
    Capability.ASSIGN_OWNER: (True, False),
    Capability.MANAGE_TARGETS: (True, False),
    Capability.IMPORT_DEALS: (True, False),
    Capability.IMPORT_PEOPLE: (False, False),
    Capability.EXPORT_PEOPLE: (True, False),
    Capability.CHANGE_CATALOGUE: (False, False),
    Capability.RESTORE_DELETED: (False, False),
    Capability.USE_ADMIN: (False, False),
}


def _has(user: Any, capability: Capability) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if _is_admin(user):
        return True
    managers, reps = _CAPABILITIES[capability]
    return managers if _is_manager(user) else reps


# --- Team trees ----------------------------------------------------------------------------


def managed_team_ids(user: Any) -> set[int]:
    """A manager's tree: the teams they manage and their own team, with every sub-team.

    Read once per user object: a request loads its user afresh, so a page asking many
    questions pays two queries for the tree, and a change of teams shows on the next one.
    """
    cached = getattr(user, "_access_managed_team_ids", None)
    if cached is not None and cached[0] == user.team_id:
        return set(cached[1])
    roots = set(Team.objects.filter(manager=user).values_list("id", flat=True))
    if user.team_id:
        roots.add(user.team_id)
    tree = team_tree_ids(root_ids=roots)
    user._access_managed_team_ids = (user.team_id, frozenset(tree))
    return tree


def visible_team_ids(user: Any) -> set[int] | None:
    """Teams whose people and figures `user` sees; None means every team (admins). A rep
    sees no team's figures (their own team's page would show their teammates')."""
    if _is_admin(user):
        return None
    if _is_manager(user):
        return managed_team_ids(user)
    return set()


# --- Querysets -----------------------------------------------------------------------------

_NOTHING = Q(pk__in=[])


def _field_names(model: type[Model]) -> set[str]:
    return {field.name for field in model._meta.get_fields()}


def _tree_owners(user: Any, teams: set[int]) -> list[int]:
    """The owners whose rows a manager sees: the people of their tree, and themselves.

    A list of ids read first (one small query), neither a join nor a subquery: an OR across
    a join, or with a hashed subquery, cannot use the row's own indexes, so every list
    scanned all the organisation's deals; with plain ids PostgreSQL ORs the owner and team
    indexes, or walks a sort's index."""
    cached = getattr(user, "_access_tree_owners", None)
    if cached is not None and cached[0] == frozenset(teams):
        return list(cached[1])
    people = get_user_model().objects.filter(team_id__in=teams).values_list("pk", flat=True)
    owners = sorted(set(people) | {user.pk})
    user._access_tree_owners = (frozenset(teams), tuple(owners))
    return owners


def _rule(model: type[Model], user: Any, action: str) -> Q | None:
    """The Q of the rows of `model` that `user` may see or change; None means all."""
    if not user.is_authenticated or not user.is_active:
        return _NOTHING
    admin = _is_admin(user)
    fields = _field_names(model)
    if issubclass(model, get_user_model()):
        if action != VIEW:
            return None if admin else _NOTHING
        teams = visible_team_ids(user)
        return None if teams is None else Q(pk=user.pk) | Q(team_id__in=teams)
    if issubclass(model, Team):
        if action != VIEW:
            return None if admin else _NOTHING
        teams = visible_team_ids(user)
        if teams is None:
            return None
        return Q(pk__in=teams | ({user.team_id} if user.team_id else set()))
    if admin:
        # Targets: nobody sets their own, admins included (a goal is set from above).
        is_target = {"user", "team", "period_kind"} <= fields
        return ~Q(user_id=user.pk) if is_target and action != VIEW else None
    if {"owner", "team"} <= fields:
        # Deals and leads: the owner, and a manager of the owner's team or of the team the
        # row counts for (a deal keeps its team when its owner moves on); the same to edit.
        if not _is_manager(user):
            return Q(owner=user)
        teams = managed_team_ids(user)
        return Q(owner_id__in=_tree_owners(user, teams)) | Q(team_id__in=teams)
    if {"user", "team", "period_kind"} <= fields:
        # Targets: read your own and your team's (and a manager their tree's and its
        # people's); set those of your tree and its people, never your own.
        teams = managed_team_ids(user) if _is_manager(user) else set()
        tree = Q(team_id__in=teams) | Q(user__team_id__in=teams)
        if action != VIEW:
            return (tree & ~Q(user_id=user.pk)) if teams else _NOTHING
        own = Q(user_id=user.pk) | (Q(team_id=user.team_id) if user.team_id else _NOTHING)
        return own | tree
    if {"scope_kind", "scope_id"} <= fields:
        # KPI snapshots: the scopes whose figures you see (never the organisation's).
        if action != VIEW:
            return _NOTHING
        teams = visible_team_ids(user) or set()
        people = get_user_model().objects.filter(team_id__in=teams).values("pk")
        return (
            Q(scope_kind="team", scope_id__in=teams)
            | Q(scope_kind="user", scope_id__in=people)
            | Q(scope_kind="user", scope_id=user.pk)
        )
    if "created_by" in fields:
        # Import jobs: your own uploads.
        return Q(created_by=user)
    raise TypeError(f"accounts.access has no rule for {model.__name__}")


# More rows than this outside a manager's teams, and the list reads them in one sort.
_ELSEWHERE_AT_MOST = 2000
# More ranges of team ids around a tree's than this, and its people's rows counted for
# another team are read by one NOT IN (each range is a part of a UNION, planned on its own,
# and SQLite takes at most 500 of them).
_GAPS_AT_MOST = 50


def visible_parts(model: type[Model], user: Any) -> list[Q] | None:
    """The rows of `model` (deals, leads) a manager may see, as disjoint parts that an index
    leading with the team walks in a list's order: one part per team of the tree, and the
    tree's people's rows counted for a team outside it (read first, by pk; rare: a deal
    keeps its team when its owner moves). Together they are exactly what `restrict` lets
    through. None where the rule is one walk already (an admin's everything, a rep's own
    rows by the owner indexes), or the rows elsewhere are too many to list."""
    if not (user.is_authenticated and user.is_active) or _is_admin(user):
        return None
    if not _is_manager(user) or not {"owner", "team"} <= _field_names(model):
        return None
    teams = managed_team_ids(user)
    if not teams:
        return None
    owners = _tree_owners(user, teams)
    rows = model._base_manager.filter(owner_id__in=owners).order_by().values_list("pk", flat=True)
    gaps = _team_gaps(teams)
    if len(gaps) <= _GAPS_AT_MOST:
        probes = [rows.filter(team_id__isnull=True), *(rows.filter(**gap) for gap in gaps)]
        found = probes[0].union(*probes[1:], all=True)
    else:
        found = rows.filter(Q(team_id__isnull=True) | ~Q(team_id__in=teams))
    elsewhere = list(found[: _ELSEWHERE_AT_MOST + 1])
    if len(elsewhere) > _ELSEWHERE_AT_MOST:
        return None
    parts = [Q(team_id=team) for team in sorted(teams)]
    return parts + [Q(pk__in=sorted(elsewhere))] if elsewhere else parts


def _team_gaps(teams: set[int]) -> list[dict[str, int]]:
    """The team ids outside `teams` as ranges between them (`team_id__gt`, `team_id__lt`),
    for a probe of the people's rows counted for another team: with the owner, each range
    is an index walk of (owner, team) that finds only such rows (usually none). As one
    `team_id NOT IN (…)` PostgreSQL read every row of the tree's people and dropped them
    all (500,000 leads, 75 ms for a region at 2.5M leads)."""
    ordered = sorted(teams)
    gaps: list[dict[str, int]] = [{"team_id__lt": ordered[0]}]
    gaps += [
        {"team_id__gt": low, "team_id__lt": high}
        for low, high in zip(ordered, ordered[1:], strict=False)
        if high - low > 1  # neighbours: no team between them
    ]
    return [*gaps, {"team_id__gt": ordered[-1]}]


def within_parts(queryset: QuerySet[M], user: Any) -> QuerySet[M]:
    """`queryset`, restricted to what `user` sees, with the rule taken back out, to be
    narrowed by each of `visible_parts(model, user)` (each lies inside the rule, so the rows
    are the same). Beside a part, the rule's OR made PostgreSQL expect a few dozen rows of
    a team's tens of thousands, and sort them all instead of walking an index (a leaf
    team's lost deals by amount: 0.3 s). `queryset` as it is when the rule is not found."""
    rule = _rule(queryset.model, user, VIEW)
    if rule is None or not _is_manager(user):
        return queryset
    node = queryset.model._base_manager.filter(rule).query.where.children
    stripped = queryset.all()
    children = stripped.query.where.children
    if len(node) != 1 or stripped.query.where.connector != "AND" or node[0] not in children:
        return queryset
    children.remove(node[0])
    return stripped


def restrict(queryset: QuerySet[M], user: Any, action: str = VIEW) -> QuerySet[M]:
    """The rows of `queryset` that `user` may see (action "view") or change ("change",
    "delete"). Narrows only: a filter applied before or after never widens it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    rule = _rule(queryset.model, user, action)
    return queryset if rule is None else queryset.filter(rule)


def _matches(obj: Model, user: Any, action: str) -> bool:
    """The queryset rule asked of one row (one query, none for admins): the rule is written
    once, as a Q. A list asks restrict() for all its rows at once instead."""
    model = type(obj)
    rule = _rule(model, user, action)
    if rule is None:
        return True
    return model._base_manager.filter(rule, pk=obj.pk).exists()


def can(user: Any, action: str | Capability, obj: Model | None = None) -> bool:
    """May `user` do `action`: a Capability (no object), or view/change/delete `obj`."""
    if obj is None:
        return _has(user, Capability(action))
    return _matches(obj, user, str(action))


def get_visible_or_404(queryset: QuerySet[M], user: Any, action: str = VIEW, /, **lookup: Any) -> M:
    """One row `user` may see, or Http404 (missing and invisible alike); then, for another
    action than "view", PermissionDenied (403) when they may see it but not do that."""
    try:
        obj = restrict(queryset, user, VIEW).get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError) as error:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches.") from error
    if action != VIEW and not can(user, action, obj):
        raise PermissionDenied(
            f"You can see this {queryset.model._meta.verbose_name} but not {action} it."
        )
    return obj


# --- KPI scopes ----------------------------------------------------------------------------

# One answer for a scope that does not exist and one the caller may not see.
NO_SUCH_SCOPE = "No scope you may see has this id."


def scope_or_404(user: Any, kind: str, scope_id: int | None) -> Team | User | None:
    """The team or user a KPI scope names, when `user` may see its figures (None for the
    organisation, admins only); Http404 otherwise, whether the id exists or not. A rep sees
    their own figures; a manager their tree's teams and people; an admin all."""
    if kind == "org":
        if not _has(user, Capability.SEE_ORG):
            raise Http404(NO_SUCH_SCOPE)
        return None
    rows: QuerySet[Any]
    if kind == "team":
        teams = visible_team_ids(user)
        rows = Team.objects.select_related("manager", "parent")
        if teams is not None:
            rows = rows.filter(pk__in=teams)
    elif kind == "user":
        rows = restrict(get_user_model().objects.select_related("team"), user)
    else:
        raise Http404(NO_SUCH_SCOPE)
    found = rows.filter(pk=scope_id).first() if scope_id else None
    if found is None:
        raise Http404(NO_SUCH_SCOPE)
    return found


def team_page_or_404(user: Any, team_id: int) -> tuple[Team, bool]:
    """The team whose page `user` may open, and whether they see all of it. The managers
    of its tree and admins do (as `scope_or_404`); a rep opens their own team's page only
    in part: no teammate's figure, and team totals only where they hide every teammate's
    (metrics.dashboards.pages.rep_team_dashboard, docs/security.md). Any other team is
    the same 404 as a missing one. The team's figures stay out of the KPI API and its
    CSV for a rep: those still ask `scope_or_404`."""
    try:
        found = scope_or_404(user, "team", team_id)
    except Http404:
        own = user.is_authenticated and user.is_active and team_id == user.team_id
        team = Team.objects.select_related("manager", "parent").filter(pk=team_id).first()
        if not own or team is None:
            raise
        return team, False
    assert isinstance(found, Team)  # a "team" scope is a Team
    return found, True


def sees_team_of(user: Any, team_id: int | None) -> bool:
    """Does `user` see the figures of team `team_id` (for a link to that team's page)?"""
    if team_id is None:
        return False
    teams = visible_team_ids(user)
    return teams is None or team_id in teams


def can_set_targets(user: Any, *, team_ids: Iterable[int], user_ids: Iterable[int]) -> bool:
    """May `user` set the targets of these teams and people? Nobody their own; admins every
    other; a manager those of their tree's teams and of the people in it (the rule of
    restrict(Target…, "change"), for targets that may not exist yet)."""
    if not _has(user, Capability.MANAGE_TARGETS):
        return False
    team_ids, user_ids = set(team_ids), set(user_ids)
    if user.pk in user_ids:
        return False
    if _is_admin(user):
        return True
    tree = managed_team_ids(user)
    if team_ids - tree:
        return False
    if not user_ids:
        return True
    people = get_user_model().objects.filter(pk__in=user_ids, team_id__in=tree)
    return people.count() == len(user_ids)
