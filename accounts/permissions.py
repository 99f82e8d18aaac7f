"""Who may see what: the role rules of DESIGN.md as pure predicates."""

from .choices import Role


def is_admin(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN))


def is_manager(user) -> bool:
    return bool(user.is_authenticated and user.role == Role.MANAGER)


def can_view_scope(user, *, kind: str, scope_id: int | None, team_ids, scope_team_id=None) -> bool:
    """May `user` see the figures of a scope? `team_ids` is visible_team_ids(user) (None:
    all); `scope_team_id` is the team of a user scope. The organisation is for admins; a
    team for its managers up the tree; a user for themselves and their managers."""
    if team_ids is None:
        return True
    if kind == "org":
        return False
    if kind == "team":
        return scope_id in team_ids
    return scope_id == user.pk or scope_team_id in team_ids
