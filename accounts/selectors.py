"""Reads about people and teams."""

from collections import defaultdict
from collections.abc import Iterable

from .models import Team


def team_tree_ids(*, root_ids: Iterable[int]) -> set[int]:
    """The given teams and every team below them, in one query.

    Team trees are small (tens to hundreds of rows), so one read of (id, parent) and a walk
    in memory beats a recursive CTE per call and works the same on every database.
    """
    children: dict[int | None, list[int]] = defaultdict(list)
    for team_id, parent_id in Team.objects.values_list("id", "parent_id"):
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


def managed_team_ids(*, user) -> set[int]:
    """Teams a manager sees: the teams they manage and their own team, with sub-teams."""
    roots = set(Team.objects.filter(manager=user).values_list("id", flat=True))
    if user.team_id:
        roots.add(user.team_id)
    return team_tree_ids(root_ids=roots)
