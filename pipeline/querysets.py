"""Chainable scopes for leads and deals; every read starts from visible_to(user)."""

from django.db import models
from django.db.models import Q

from accounts.permissions import is_admin, is_manager
from accounts.selectors import managed_team_ids

from .choices import StageKind


def _ownership_scope(user, *, team_field: str | None) -> Q | None:
    """None means everything; an empty Q-match is returned as a Q that matches nothing."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if is_admin(user):
        return None
    if is_manager(user):
        team_ids = managed_team_ids(user=user)
        scope = Q(owner=user) | Q(owner__team_id__in=team_ids)
        if team_field:
            scope |= Q(**{f"{team_field}__in": team_ids})
        return scope
    return Q(owner=user)


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)


class LeadQuerySet(SoftDeleteQuerySet):
    def visible_to(self, user) -> "LeadQuerySet":
        scope = _ownership_scope(user, team_field="team_id")
        return self if scope is None else self.filter(scope)


class DealQuerySet(SoftDeleteQuerySet):
    def visible_to(self, user) -> "DealQuerySet":
        scope = _ownership_scope(user, team_field="team_id")
        return self if scope is None else self.filter(scope)

    def open(self) -> "DealQuerySet":
        return self.filter(stage__kind=StageKind.OPEN)

    def won(self) -> "DealQuerySet":
        return self.filter(stage__kind=StageKind.WON)

    def lost(self) -> "DealQuerySet":
        return self.filter(stage__kind=StageKind.LOST)


class LeadManager(models.Manager.from_queryset(LeadQuerySet)):
    """The default manager: soft-deleted leads do not exist for pages, API, exports, KPIs."""

    def get_queryset(self) -> LeadQuerySet:
        return super().get_queryset().alive()


class DealManager(models.Manager.from_queryset(DealQuerySet)):
    """The default manager: soft-deleted deals do not exist for pages, API, exports, KPIs."""

    def get_queryset(self) -> DealQuerySet:
        return super().get_queryset().alive()
