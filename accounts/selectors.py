"""Reads about people and teams."""

from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from .models import Team, User
from .permissions import is_admin, is_manager


def team_tree_ids(
    *, root_ids: Iterable[int], parents: Mapping[int, int | None] | None = None
) -> set[int]:
    """The given teams and every team below them, in one query (none when the caller
    already read the teams and passes their `parents`: team id -> parent id).

    Team trees are small (tens to hundreds of rows), so one read of (id, parent) and a walk
    in memory beats a recursive CTE per call and works the same on every database.
    """
    if parents is None:
        parents = dict(Team.objects.values_list("id", "parent_id"))
    children: dict[int | None, list[int]] = defaultdict(list)
    for team_id, parent_id in parents.items():
        children[parent_id].append(team_id)
    found: set[int] = set()
    stack = [team_id for team_id in root_ids]
    while stack:
        team_id = stack.pop()
        if team_id in found:
            continue
        found.add(team_id)
        stack.extend(children.get(team_id, ()))
    return found


def managed_team_ids(*, user: User) -> set[int]:
    """Teams a manager sees: the teams they manage and their own team, with sub-teams."""
    roots = set(Team.objects.filter(manager=user).values_list("id", flat=True))
    if user.team_id:
        roots.add(user.team_id)
    return team_tree_ids(root_ids=roots)


def visible_team_ids(*, user: User | AnonymousUser) -> set[int] | None:
    """Teams whose figures the user may see; None means every team (admins)."""
    if not user.is_authenticated:
        return set()
    if is_admin(user):
        return None
    if is_manager(user):
        return managed_team_ids(user=user)
    return set()


def visible_users(*, user: User) -> QuerySet[User]:
    """Users a person may look up: admins everyone, managers their teams' people and
    themselves, reps themselves."""
    team_ids = visible_team_ids(user=user)
    if team_ids is None:
        return User.objects.all()
    return User.objects.filter(Q(pk=user.pk) | Q(team_id__in=team_ids))


def visible_teams(*, user: User) -> QuerySet[Team]:
    """Teams a person may look up: admins all, managers their tree, reps their own."""
    team_ids = visible_team_ids(user=user)
    if team_ids is None:
        return Team.objects.all()
    own_team_id = getattr(user, "team_id", None)
    if own_team_id:
        team_ids = team_ids | {own_team_id}
    return Team.objects.filter(pk__in=team_ids)
