"""Limits on the text people type, the same on the pages and in the API.

A single-line field (a title, a name, a headline, a skill) loses its control characters: a newline,
tab or carriage return becomes a space, anything else in Unicode's Cc category (NUL, escape codes) is
dropped, so a title cannot break a page's layout or a CSV export. Long text (a description, a scope, a
bio, a delivery note) keeps its lines and is capped at LONG_TEXT_MAX characters: about ten pages,
more than any request needs, and far from a page that buries everything under it.
"""

from __future__ import annotations

import unicodedata

from django import forms
from rest_framework import serializers

LONG_TEXT_MAX = 20_000
_WHITESPACE_CONTROLS = {"\t": " ", "\n": " ", "\r": " ", "\x0b": " ", "\x0c": " "}


def single_line(value: str) -> str:
    """`value` on one line: whitespace controls become spaces, other control characters go."""
    return "".join(
        _WHITESPACE_CONTROLS.get(char, char)
        for char in value
        if char in _WHITESPACE_CONTROLS or unicodedata.category(char) != "Cc"
    ).strip()


class SingleLineFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return single_line(value) if isinstance(value, str) else value


class LongTextFormField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", LONG_TEXT_MAX)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 6}))
        super().__init__(**kwargs)


class SingleLineField(serializers.CharField):
    def to_internal_value(self, data):
        return single_line(super().to_internal_value(data))


class LongTextField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", LONG_TEXT_MAX)
        super().__init__(**kwargs)
