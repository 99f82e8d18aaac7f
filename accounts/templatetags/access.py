"""`{% if user|can:"manage_targets" %}`: templates ask accounts.access like everything else
(a capability needs no query)."""

from django import template

from accounts import access

register = template.Library()


@register.filter
def can(user, capability: str) -> bool:
    return access.can(user, access.Capability(capability))
