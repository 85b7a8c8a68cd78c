"""Figures as people read them on the staff pages: yes/no for booleans, seconds and sizes with their
units, shares as percentages, scores to three places, counts with thousands separators; and challenge
texts rendered from Markdown."""

from __future__ import annotations

import re
from numbers import Number
from typing import Any

import nh3
from django import template
from django.template.defaultfilters import filesizeformat
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

register = template.Library()


@register.filter
def figure(value: Any, name: str = "") -> str:
    """`{{ value|figure:"device_seconds" }}`: the value formatted by its kind and, for numbers, its name."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(figure(item, name) for item in value) if value else "—"
    if not isinstance(value, Number):
        return str(value)
    name = name.lower()
    if name.endswith("seconds"):
        return f"{value:,.1f} s" if isinstance(value, float) else f"{value:,} s"
    if name.endswith("bytes"):
        return filesizeformat(value)
    if (
        name.endswith(("share", "rate"))
        and isinstance(value, float)
        and 0 <= value <= 1
        and "learning" not in name
    ):
        return f"{value:.1%}"
    if isinstance(value, float):
        if 0 < abs(value) < 0.01:  # learning rates and the like: every significant digit
            return f"{value:g}"
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}"


@register.filter
def interval(pair: Any) -> str:
    """[low, high] -> "0.512 to 0.640"."""
    if not pair or len(pair) != 2:
        return "—"
    return f"{figure(pair[0])} to {figure(pair[1])}"


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_ALLOWED_TAGS = {
    *("p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"),
    *("h3", "h4", "table", "thead", "tbody", "tr", "th", "td"),
}


@register.filter
def markdown(text: str) -> str:
    """Challenge text as Markdown (CommonMark and tables; raw HTML is not allowed), sanitised with nh3:
    lines wrapped inside a sentence flow as one paragraph; links get rel="noopener noreferrer nofollow"."""
    html = _MARKDOWN.render(text or "")
    # The page's own headings are h1 and h2; the text's start at h3.
    html = re.sub(r"<(/?)h[12]>", r"<\1h3>", html)
    return mark_safe(nh3.clean(html, tags=_ALLOWED_TAGS, link_rel="noopener noreferrer nofollow"))  # noqa: S308
