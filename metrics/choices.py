from django.db import models

from periods.choices import PeriodKind

__all__ = ["PeriodKind", "ScopeKind", "TargetMetric"]


class TargetMetric(models.TextChoices):
    REVENUE = "revenue", "Revenue"
    DEALS_WON = "deals_won", "Deals won"
    OPPORTUNITIES_CREATED = "opportunities_created", "Opportunities created"


class ScopeKind(models.TextChoices):
    ORG = "org", "Organisation"
    TEAM = "team", "Team"
    USER = "user", "User"
