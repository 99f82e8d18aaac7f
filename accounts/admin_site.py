"""The Django admin is for admins (accounts.access, Capability.USE_ADMIN): a manager or a rep gets
no admin page, even with is_staff set by mistake. docs/security.md."""

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from .access import Capability, can


class AdminOnlyAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form refuses whoever the admin would then refuse."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not can(user, Capability.USE_ADMIN):
            raise self.get_invalid_login_error()


def restrict_to_admins(site: AdminSite) -> None:
    """Make `site` ask accounts.access (active admins only; is_staff alone is not enough):
    every admin view (index, changelists, change forms, history, autocomplete, view-on-site)
    goes through site.has_permission."""

    def has_permission(request: HttpRequest) -> bool:
        return can(request.user, Capability.USE_ADMIN)

    site.has_permission = has_permission  # type: ignore[method-assign]
    site.login_form = AdminOnlyAuthenticationForm
