"""Template filters for the role rules of accounts.permissions (no queries)."""

from django import template

from accounts.admin_site import can_use_admin as _can_use_admin

register = template.Library()


@register.filter
def can_use_admin(user) -> bool:
    """`{% if user|can_use_admin %}`: the admin link follows the admin site's own rule."""
    return _can_use_admin(user)
