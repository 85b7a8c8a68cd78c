"""Service messages on pages speak of fields by their labels."""

from django import forms

from core.pages import for_people


class BudgetForm(forms.Form):
    budget_max = forms.IntegerField(label="Maximum budget")


def test_a_service_message_names_the_field_by_its_label():
    assert for_people("budget_max: below the minimum.", BudgetForm()) == "Maximum budget: below the minimum."
    assert for_people("budget_min: missing.", BudgetForm()) == "Budget min: missing."  # not on the form
    assert for_people("milestones[0].amount: too large.") == "Milestone 1, amount: too large."
    assert for_people("links[2]: not a URL.") == "Link 3: not a URL."


def test_messages_that_name_no_field_stay_as_they_are():
    for message in ("Nothing to do.", "Card declined: try another card.", "Payout 12 approved: tr_1."):
        assert for_people(message, BudgetForm()) == message
