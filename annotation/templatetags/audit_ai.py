from django import template

from annotation.audit.presentation import fmt_rate

register = template.Library()


@register.filter
def ai_rate(r) -> str:
    """A rate dict as '62% (55%–69%, n=120)', '—' without data (plain text: the template escapes it)."""
    return fmt_rate(r)
