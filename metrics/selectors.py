"""Reads of the metrics app that scope rows to a user."""

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.selectors import visible_team_ids

from .models import Target


def visible_targets(*, user: User) -> QuerySet[Target]:
    """Targets a person may read: admins all; managers those of their team tree and of the
    people in it; reps their own and their team's."""
    team_ids = visible_team_ids(user=user)
    if team_ids is None:
        return Target.objects.all()
    scope = Q(user_id=user.pk)
    if user.team_id:
        scope |= Q(team_id=user.team_id)
    if team_ids:
        scope |= Q(team_id__in=team_ids) | Q(user__team_id__in=team_ids)
    return Target.objects.filter(scope)
