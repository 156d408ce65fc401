"""`{% load labelling_markup %}` then `{{ text|markdown_safe }}`: sanitised Markdown (see
annotation/labelling/markup.py). Lives here because Django finds tag libraries only in apps."""
from django import template

from annotation.labelling.markup import markdown_to_safe_html

register = template.Library()


@register.filter
def markdown_safe(text):
    return markdown_to_safe_html(text)
