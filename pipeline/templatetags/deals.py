"""How a deal reads on a page: marks computed from the row alone (no query)."""

from django import template

from pipeline.deadlines import deal_is_overdue

register = template.Library()


@register.filter
def overdue(deal) -> bool:
    """pipeline.deadlines' rule for the deal as of today (its stage must be loaded)."""
    return deal_is_overdue(deal)
