"""Chainable scopes for leads and deals; every read starts from visible_to(user), which is
accounts.access.restrict."""

from typing import Self

from django.db import models
from django.db.models import DateTimeField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from accounts.access import restrict

from .choices import StageKind


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self) -> Self:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> Self:
        return self.filter(deleted_at__isnull=False)


# A search reads the matching companies' ids first when there are at most this many, so
# that PostgreSQL ORs two indexes of the deal or lead (its own trigram index and the
# company's) instead of joining every company row: a hashed subquery inside an OR uses no
# index. Past it (a one-letter search), the join as before.
COMPANY_IDS_CAP = 1000


def _company_match(text: str) -> Q:
    from .models import Company  # the models import these querysets

    ids = list(
        Company._base_manager.filter(name__icontains=text)
        .order_by()
        .values_list("pk", flat=True)[: COMPANY_IDS_CAP + 1]
    )
    if len(ids) > COMPANY_IDS_CAP:
        return Q(company__name__icontains=text)
    return Q(company_id__in=ids)


def _words(text: str) -> str:
    """A search as typed, trimmed, with runs of spaces as one (as company names are kept)."""
    return " ".join(text.split())


class LeadQuerySet(SoftDeleteQuerySet):
    def search(self, text: str) -> "LeadQuerySet":
        """Leads whose contact name or email, or company name, contains `text` (any case);
        all of them for an empty search."""
        text = _words(text)
        if not text:
            return self
        return self.filter(
            Q(contact_name__icontains=text)
            | Q(contact_email__icontains=text)
            | _company_match(text)
        )

    def visible_to(self, user, action: str = "view") -> "LeadQuerySet":
        return restrict(self, user, action)


class DealQuerySet(SoftDeleteQuerySet):
    def search(self, text: str) -> "DealQuerySet":
        """Deals whose name or company name contains `text` (any case); all for ""."""
        text = _words(text)
        if not text:
            return self
        return self.filter(Q(name__icontains=text) | _company_match(text))

    def visible_to(self, user, action: str = "view") -> "DealQuerySet":
        return restrict(self, user, action)

    def open(self) -> "DealQuerySet":
        return self.filter(stage__kind=StageKind.OPEN)

    def won(self) -> "DealQuerySet":
        return self.filter(stage__kind=StageKind.WON)

    def lost(self) -> "DealQuerySet":
        return self.filter(stage__kind=StageKind.LOST)

    def with_last_move(self) -> "DealQuerySet":
        """Annotates `last_move`: the deal's latest stage change, else its creation (what
        "stale" measures)."""
        from .models import StageChange  # the models module imports this one

        latest = (
            StageChange.objects.filter(deal=OuterRef("pk"))
            .order_by("-changed_at", "-id")
            .values("changed_at")[:1]
        )
        return self.annotate(
            last_move=Coalesce(Subquery(latest), "created_at", output_field=DateTimeField())
        )


# Module-level bases: the form django-stubs understands, so `Deal.objects.visible_to(...)`
# is typed as the queryset it returns.
_LeadManagerBase = models.Manager.from_queryset(LeadQuerySet)
_DealManagerBase = models.Manager.from_queryset(DealQuerySet)


class LeadManager(_LeadManagerBase):
    """The default manager: soft-deleted leads do not exist for pages, API, exports, KPIs."""

    def get_queryset(self) -> LeadQuerySet:
        return super().get_queryset().alive()


class DealManager(_DealManagerBase):
    """The default manager: soft-deleted deals do not exist for pages, API, exports, KPIs."""

    def get_queryset(self) -> DealQuerySet:
        return super().get_queryset().alive()
