from django import template
from django.utils.html import format_html

from core.money import format_money, format_signed_money
from marketplace.models.users import time_zone_label

register = template.Library()


@register.filter
def money(amount, currency="usd"):
    if amount in (None, ""):
        return ""
    return format_money(int(amount), currency or "usd")


@register.filter
def signed_money(amount, currency="usd"):
    return format_signed_money(int(amount), currency)


@register.simple_tag
def pill(state, label=None):
    """A coloured state badge; the colour comes from the state's value."""
    return format_html('<span class="pill pill-{}">{}</span>', state, label or str(state).replace("_", " "))


@register.filter
def initials(user):
    name = getattr(user, "display_name", "") or str(user)
    parts = [part for part in name.replace(".", " ").split() if part]
    letters = "".join(part[0] for part in parts[:2]) or name[:2]
    return letters.upper()


@register.filter
def stars(rating):
    """★★★★☆ for 4.2; empty for no rating."""
    if rating in (None, ""):
        return ""
    full = round(float(rating))
    return "★" * full + "☆" * (5 - full)


@register.filter
def percent(value):
    """A 0-1 score as a whole percentage."""
    return f"{round(float(value) * 100)}%"


register.filter("time_zone_label", time_zone_label)


@register.filter
def reply_time(hours):
    """A median reply time in words: "within an hour", "about 5 hours", "about 2 days"."""
    hours = float(hours)
    if hours < 1:
        return "within an hour"
    if hours < 36:
        whole = round(hours)
        return f"about {whole} hour{'s' if whole != 1 else ''}"
    days = round(hours / 24)
    return f"about {days} days"


@register.inclusion_tag("marketplace/_field.html")
def field(bound_field, css_class=""):
    return {"field": bound_field, "css_class": css_class}


@register.filter
def words(value):
    """start_consulting -> Start consulting."""
    return str(value).replace("_", " ").capitalize()


SUBJECTS = {"hiringrequest": "Request", "consultation": "Consultation", "proposal": "Proposal"}


@register.filter
def subject(log):
    """What a transition log entry is about, in words."""
    return SUBJECTS.get(log.content_type.model, log.content_type.model.capitalize())


@register.filter
def verdict(summary: str) -> str:
    """The readiness summary without its list of gaps (the page lists them per question)."""
    return str(summary).split(" Gaps:")[0]


@register.filter
def given_with(evidence, statement):
    """`dispute.evidence.all|given_with:statement`: the files given with that statement (None: with
    the opening)."""
    wanted = statement.pk if statement else None
    return [item for item in evidence if item.statement_id == wanted]
