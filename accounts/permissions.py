"""Who may see what: the role rules of DESIGN.md as pure predicates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .choices import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from .models import User  # models import this module's callers, not the reverse


class OwnedByTeam(Protocol):
    """A deal or a lead: an owner and the team it counts for."""

    team_id: int | None
    owner_id: int

    @property
    def owner(self) -> User: ...


def is_admin(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN))


def is_manager(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.role == Role.MANAGER)


def can_manage_targets(user: User | AnonymousUser) -> bool:
    """Managers set their tree's targets, admins everyone's; reps none."""
    return is_admin(user) or is_manager(user)


def can_view_scope(
    user: User | AnonymousUser,
    *,
    kind: str,
    scope_id: int | None,
    team_ids: set[int] | None,
    scope_team_id: int | None = None,
) -> bool:
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


def _manages_owner_or_team(user: User, obj: OwnedByTeam, team_ids: set[int] | None) -> bool:
    """Does a manager's team tree hold the object's owner or the team it counts for?"""
    if team_ids is None:
        from .selectors import managed_team_ids  # selectors import this module

        team_ids = managed_team_ids(user=user)
    return obj.team_id in team_ids or obj.owner.team_id in team_ids


def can_edit_deal(
    user: User | AnonymousUser, deal: OwnedByTeam, *, team_ids: set[int] | None = None
) -> bool:
    """Reps edit their own deals, managers those of their team tree, admins all.

    Views load the deal through Deal.objects.visible_to(user) first, so an invisible deal
    is a 404 before this is asked. A list asking for every row passes the manager's
    managed_team_ids once as `team_ids` (and selects each owner) to stay at a fixed
    number of queries.
    """
    if not user.is_authenticated:
        return False
    if is_admin(user) or deal.owner_id == user.pk:
        return True
    return is_manager(user) and _manages_owner_or_team(user, deal, team_ids)


def can_edit_lead(
    user: User | AnonymousUser, lead: OwnedByTeam, *, team_ids: set[int] | None = None
) -> bool:
    """The rule of deals: the owner, a manager of the owner's team tree, an admin."""
    if not user.is_authenticated:
        return False
    if is_admin(user) or lead.owner_id == user.pk:
        return True
    return is_manager(user) and _manages_owner_or_team(user, lead, team_ids)
