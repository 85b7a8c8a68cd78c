from django import template

from acceptance import baselines, selectors
from core.errors import NotFoundError

register = template.Library()


@register.simple_tag
def engagement_acceptance(milestones):
    """`{% engagement_acceptance milestones as acceptance %}`: the acceptance tests of the milestones
    on an engagement's page with their latest runs (the page has checked who may see them)."""
    return selectors.acceptance_of_milestones(list(milestones))


@register.filter
def acceptance_of(acceptance, milestone):
    """`acceptance|acceptance_of:milestone`: that milestone's test and latest run, or None."""
    return acceptance.get(milestone.pk) if acceptance else None


@register.simple_tag
def request_baseline(hiring_request, user):
    """`{% request_baseline hiring_request user as baseline %}`: the request's prompting baseline if the
    user may see it (its client, staff, invited engineers), else None."""
    try:
        return baselines.baseline_get(user=user, request_id=hiring_request.pk)
    except NotFoundError:
        return None
