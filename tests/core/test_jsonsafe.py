"""The one reader for user JSON: bounded size and depth, one error type, no text quoted back."""

import pytest

from core import jsonsafe
from core.jsonsafe import JSONInputError

SECRET = "hidden item text"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[" * 50_000, "nested more than 32 levels deep"),
        ('{"a": ' * 50_000, "nested more than 32 levels deep"),
        ("[" * 33 + "]" * 33, "nested more than 32 levels deep"),
        ('{"a": NaN}', "NaN is not a JSON value"),
        ("[Infinity]", "Infinity is not a JSON value"),
        (b"\xff\xfe", "not UTF-8 text (byte 1)"),
        (
            f'{{"x": "{SECRET}",',
            "not valid JSON: Expecting property name enclosed in double quotes at column 26",
        ),
        (
            '{\n"x": 1,\n}',
            "not valid JSON: Expecting property name enclosed in double quotes at line 3, column 1",
        ),
    ],
)
def test_unreadable_json_is_one_error_type_naming_the_position(data, message):
    with pytest.raises(JSONInputError) as caught:
        jsonsafe.loads(data)
    assert str(caught.value) == message
    assert SECRET not in str(caught.value)


def test_size_is_checked_before_parsing():
    with pytest.raises(JSONInputError, match="larger than 10 bytes"):
        jsonsafe.loads('{"a": 12345}', max_bytes=10)


def test_ordinary_documents_parse_up_to_the_depth_limit():
    assert jsonsafe.loads(b'{"messages": [{"role": "user", "content": "hi"}]}') == {
        "messages": [{"role": "user", "content": "hi"}]
    }
    assert jsonsafe.loads("[" * 32 + "]" * 32, max_depth=32) is not None
    assert jsonsafe.loads("3") == 3
