"""Reads about people and teams (who may see them: accounts.access)."""

from collections import defaultdict
from collections.abc import Iterable, Mapping

from .models import Team, User


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


def people_of_teams(team_ids: Iterable[int]) -> list[User]:
    """The members of these teams by name, with only what a picker shows."""
    people = User.objects.filter(team_id__in=list(team_ids)).only(
        "id", "first_name", "last_name", "username"
    )
    return sorted(people, key=lambda user: str(user).lower())
