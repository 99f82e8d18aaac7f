"""The hidden one-time token of a create form (pipeline.submissions)."""

from django import template
from django.utils.html import format_html

from pipeline.submissions import FIELD, form_token_issue

register = template.Library()


@register.simple_tag(takes_context=True)
def form_token(context, kind: str, token: str | None = None) -> str:
    """`token` when the view re-shows a submitted form (it keeps its token), else a fresh
    one for the signed-in user. Signing only: no query."""
    value = token or form_token_issue(user=context["request"].user, kind=kind)
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, value)
