"""What the pipeline's endpoints share: whose rows a caller may name, and the permission
classes (visible but not writable is a 403; reference data is written by admins)."""

from django.db import transaction
from django.db.models import ProtectedError, QuerySet
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.access import Capability, can, restrict
from accounts.models import User
from api.errors import Conflict

from ..models import Lead, Product
from ..validators import plain_length_errors

NOT_YOUR_PERSON = "Not one of your people."


def assignable_owners(*, user) -> QuerySet[User]:
    """Whom a deal or lead may be given to: active people the caller sees (a rep: only
    themselves; a manager: their tree; an admin: everyone)."""
    return restrict(User.objects.filter(is_active=True), user)


def linkable_leads(*, user) -> QuerySet[Lead]:
    return Lead.objects.visible_to(user)


def active_products(*, user) -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


class PlainLengthErrorsMixin:
    """Too long a text is refused in the pages' words: "At most 200 characters (you
    entered 10,000)." (pipeline.validators.MaxCharacters), never cut."""

    def get_fields(self):
        fields = super().get_fields()
        plain_length_errors(fields.values())
        return fields


# --- Permissions ----------------------------------------------------------------------------


class CanEditObject(BasePermission):
    """Reads for whoever sees the object (the queryset decides), writes as accounts.access
    allows (visible but not writable is a 403)."""

    message = "You can see this but not change it."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return can(request.user, "delete" if request.method == "DELETE" else "change", obj)


class IsAdminOrReadOnly(BasePermission):
    """Reference data: everyone signed in reads it, admins change it."""

    message = "Only admins change this."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or can(request.user, Capability.CHANGE_CATALOGUE)


class IsAdminOrReadAndCreate(IsAdminOrReadOnly):
    """Companies: everyone signed in reads and adds them, admins change and delete them."""

    def has_permission(self, request, view) -> bool:
        return request.method == "POST" or super().has_permission(request, view)


class ProtectedDestroyMixin:
    """Deleting a row still used elsewhere is a 409, not a 500."""

    schema_error_responses = {
        "destroy": {409: "Still in use (by deals or leads); nothing was deleted."}
    }

    def perform_destroy(self, instance) -> None:
        try:
            with transaction.atomic():
                instance.delete()
        except ProtectedError as error:
            raise Conflict(f"{instance} is still in use and cannot be deleted.") from error
