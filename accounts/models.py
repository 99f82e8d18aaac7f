from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from .choices import Role


class Team(models.Model):
    """A sales team; teams form a tree and KPIs roll up from sub-teams to parents."""

    name = models.CharField(max_length=120, unique=True)
    manager = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=F("id")),
                name="%(app_label)s_%(class)s_not_own_parent",
                violation_error_message="A team cannot be its own parent.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Walk up from the new parent: meeting ourselves would make a cycle.
        ancestor, seen = self.parent, set()
        while ancestor is not None and ancestor.pk not in seen:
            if self.pk is not None and ancestor.pk == self.pk:
                raise ValidationError({"parent": "A team cannot sit below itself."})
            seen.add(ancestor.pk)
            ancestor = ancestor.parent


class UserHistoricalRecords(HistoricalRecords):
    """A sign-in saves only last_login, which the history leaves out: record nothing then."""

    def post_save(self, instance, created, using=None, **kwargs):
        update_fields = kwargs.get("update_fields")
        if not created and update_fields and set(update_fields) <= {"last_login"}:
            return
        super().post_save(instance, created, using=using, **kwargs)


class User(AbstractUser):
    """A person who sells, manages a team, or administers the organisation."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )

    # No password hash in the history; last_login changes at every sign-in and says nothing.
    history = UserHistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["username"]
        indexes = [models.Index(fields=["team", "role"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=Role.values),
                name="%(app_label)s_%(class)s_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username
