"""Every error under /api/ is JSON in the one error shape, whoever answered it.

DRF's views already answer their errors through `core.api.exception_handler`. What answers before or
after them does not: Django's resolver (an unknown URL: 404), the request-size limits (413, 400), the
CSRF check (403) and the handler for anything unexpected (500; with DEBUG on, Django's technical page,
which would print a view's variables). This middleware, outermost but for the security headers,
replaces any such answer to an /api/ path with `{"error": {"code", "message", "details"}}` and the same
status (a 500 is logged by Django first, as always, under `django.request`). Pages keep their HTML.
"""

from django.http import JsonResponse

API_PREFIX = "/api/"

# (code, message) for each status Django itself may answer an API path with.
STATUS_ERRORS = {
    400: ("bad_request", "The request could not be read."),
    403: ("permission_denied", "You may not do this."),
    404: ("not_found", "No such endpoint or object."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("request_too_large", "The request body is larger than this endpoint accepts."),
    415: ("unsupported_media_type", "This content type is not accepted here."),
    429: ("throttled", "Too many requests; retry later."),
    500: ("server_error", "Something went wrong on our side. It has been logged; please retry later."),
}


def api_error_body(status: int) -> dict:
    code, message = STATUS_ERRORS.get(
        status, ("server_error" if status >= 500 else "error", "The request failed.")
    )
    return {"error": {"code": code, "message": message, "details": {}}}


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            replacement = JsonResponse(api_error_body(response.status_code), status=response.status_code)
            for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response
