from django import template

register = template.Library()


@register.filter
def bps_percent(bps) -> str:
    """1000 basis points -> "10%"; 250 -> "2.5%"."""
    return f"{int(bps) / 100:g}%"
