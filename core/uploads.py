"""Uploads refused while they stream: an API endpoint that takes files names its cap (`upload_limit`, a
callable returning bytes), and a multipart body over it is refused with 413 before it is written to
disk in full: at once when its Content-Length says so, else as soon as the files' bytes pass the cap.
Without the cap, a 5 GB body would be spooled to a temporary file before any check saw its size.

Pages keep reading the upload and answer over-size files on the form, next to the field.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

# Room for the multipart boundaries, part headers and the small fields that come with the files.
MULTIPART_OVERHEAD = 256 * 1024


def upload_limit_for(request) -> int | None:
    """The cap the view this request resolved to declares, in bytes of files, or None."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    view = getattr(match.func, "view_class", match.func)
    limit = getattr(view, "upload_limit", None)
    return limit() if callable(limit) else limit


class CappedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts what the others would store, and stops it at the cap."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = upload_limit_for(request) if request is not None else None
        self.received = 0

    def _refuse(self):
        raise RequestDataTooBig(f"The upload is larger than this endpoint's limit of {self.limit:,} bytes.")

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self.limit is not None and content_length > self.limit + MULTIPART_OVERHEAD:
            self._refuse()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.limit is not None and self.received > self.limit:
            self._refuse()
        return raw_data

    def file_complete(self, file_size):
        return None
