"""Uploads refused while they stream, so that no over-size file is written to disk in full.

- An API endpoint that takes files names the cap of its whole body (`upload_limit`, a callable returning
  bytes): a multipart body over it is refused with 413, at once when its Content-Length says so, else as
  soon as the files' bytes pass the cap.
- A page names a cap per file field (`@upload_caps(dataset=lambda: ...)`, by field name without a form
  prefix): the bytes of a file past its cap are read and dropped, and the form receives an
  `OversizedUpload` (its name, a size over the cap, no content), which the service refuses by its size,
  naming the field, so the page answers next to the field and keeps what else was typed.

Without them, a 5 GB body would be spooled to a temporary file before any check saw its size.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from core.errors import ValidationError

# Room for the multipart boundaries, part headers and the small fields that come with the files.
MULTIPART_OVERHEAD = 256 * 1024

Cap = int | Callable[[], int]


def _view_of(request):
    match = getattr(request, "resolver_match", None)
    return None if match is None else getattr(match.func, "view_class", match.func)


def _bytes(cap: Cap | None) -> int | None:
    return cap() if callable(cap) else cap


def upload_limit_for(request) -> int | None:
    """The cap on the files of the whole body the view this request resolved to declares, or None."""
    return _bytes(getattr(_view_of(request), "upload_limit", None))


def upload_caps(**caps: Cap) -> Callable:
    """Declare a page view's per-file caps, by field name (outermost decorator)."""

    def decorate(view):
        view.upload_caps = caps
        return view

    return decorate


def upload_cap_for(request, field_name: str) -> int | None:
    caps = getattr(_view_of(request), "upload_caps", None) or {}
    return _bytes(caps.get(field_name.rpartition("-")[2]))


class OversizedUpload(UploadedFile):
    """A page's file that passed its field's cap: its name and a size over the cap, and no content."""

    def __init__(self, name: str, content_type: str, size: int) -> None:
        super().__init__(file=io.BytesIO(), name=name, content_type=content_type, size=size)


class CappedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts what the others would store, and stops it at the cap."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = upload_limit_for(request) if request is not None else None
        self.received = 0
        self.file_cap: int | None = None
        self.file_received = 0
        self.oversized = False

    def _refuse(self):
        raise RequestDataTooBig(f"The upload is larger than this endpoint's limit of {self.limit:,} bytes.")

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self.limit is not None and content_length > self.limit + MULTIPART_OVERHEAD:
            self._refuse()

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self.file_cap = upload_cap_for(self.request, field_name) if self.request is not None else None
        self.file_received = 0
        self.oversized = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.limit is not None and self.received > self.limit:
            self._refuse()
        if self.oversized:
            return None  # dropped: the handlers after this one never see it
        self.file_received += len(raw_data)
        if self.file_cap is not None and self.file_received > self.file_cap:
            self.oversized = True
            return None
        return raw_data

    def file_complete(self, file_size):
        if self.oversized:
            return OversizedUpload(self.file_name, self.content_type, self.file_received)
        return None


def read_capped(upload: UploadedFile | bytes | str, *, limit: int, field: str, what: str) -> bytes:
    """The bytes of an uploaded file (or of text given inline), refused by size first, naming the field
    (an `OversizedUpload` is refused here by the size it carries)."""
    too_large = ValidationError(
        f"The {what} is larger than {limit // (1024 * 1024)} MB.", details={field: ["Too large."]}
    )
    if isinstance(upload, str):
        data = upload.encode()
    elif isinstance(upload, bytes):
        data = upload
    else:
        if (upload.size or 0) > limit:
            raise too_large
        data = b"".join(upload.chunks())
    if len(data) > limit:
        raise too_large
    return data
