"""The API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES). A module of its own: DRF reads its
parser classes while `rest_framework.views` is still being imported, so this must not import that."""

from rest_framework import exceptions, parsers

from core import jsonsafe


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through the one reader for user JSON (core.jsonsafe): a body nested too deep
    (50,000 `[`) is a 400 saying so, not a RecursionError; NaN and Infinity are refused."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return jsonsafe.loads(stream.read() if stream is not None else b"")
        except jsonsafe.JSONInputError as exc:
            raise exceptions.ParseError(f"JSON body: {exc}.") from None
