from django.db import models


class PeriodKind(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"


class TargetMetric(models.TextChoices):
    REVENUE = "revenue", "Revenue"
    DEALS_WON = "deals_won", "Deals won"
    OPPORTUNITIES_CREATED = "opportunities_created", "Opportunities created"


class ScopeKind(models.TextChoices):
    ORG = "org", "Organisation"
    TEAM = "team", "Team"
    USER = "user", "User"
