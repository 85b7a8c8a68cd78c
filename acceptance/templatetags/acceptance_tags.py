from django import template

from acceptance import selectors

register = template.Library()


@register.simple_tag
def engagement_acceptance(milestones):
    """`{% engagement_acceptance milestones as acceptance %}`: the acceptance tests of the milestones
    on an engagement's page, in one query (the page has checked who may see them)."""
    return selectors.acceptance_tests_of(list(milestones))


@register.filter
def acceptance_of(tests, milestone):
    """`acceptance|acceptance_of:milestone`: that milestone's acceptance test, or None."""
    return tests.get(milestone.pk) if tests else None
