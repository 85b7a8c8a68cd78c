"""Files people attach to deliveries and messages: one set of limits (the ATTACHMENT_* settings)."""

from pathlib import PurePath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from core.errors import ValidationError


def attachments_validate(files: list[UploadedFile], field: str = "attachments") -> None:
    """Size, count and type limits for attachments (of deliveries, messages and disputes), refused
    under `field` naming the offending file."""
    if len(files) > settings.ATTACHMENT_MAX_FILES:
        raise ValidationError(
            f"{field}: At most {settings.ATTACHMENT_MAX_FILES} files at once.",
            details={field: [f"At most {settings.ATTACHMENT_MAX_FILES} files."]},
        )
    allowed = {ext.lower() for ext in settings.ATTACHMENT_EXTENSIONS}
    for upload in files:
        name = upload.name or ""
        extension = PurePath(name).suffix.lower().lstrip(".")
        if extension not in allowed:
            raise ValidationError(
                f"{field}: {name!r} is not an allowed file type ({', '.join(sorted(allowed))}).",
                details={field: [f"{name}: file type .{extension or '?'} is not allowed."]},
            )
        if upload.size > settings.ATTACHMENT_MAX_BYTES:
            limit_mb = settings.ATTACHMENT_MAX_BYTES / (1024 * 1024)
            raise ValidationError(
                f"{field}: {name!r} is larger than {limit_mb:g} MB.",
                details={field: [f"{name}: larger than {limit_mb:g} MB."]},
            )
        if upload.size == 0:
            raise ValidationError(
                f"{field}: {name!r} is empty.", details={field: [f"{name}: the file is empty."]}
            )
