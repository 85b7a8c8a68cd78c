from pathlib import PurePath

from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.utils.text import get_valid_filename


class Attachment(models.Model):
    """A file a person uploaded (to a delivery, a message, a dispute): kept under a generated name,
    with the name it had, its size and the type the browser claimed (served only as a download).
    Subclasses declare `file` with their own folder."""

    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.original_name

    @classmethod
    def store(cls, upload: UploadedFile, **owner):
        return cls.objects.create(
            file=upload,
            original_name=get_valid_filename(PurePath(upload.name).name),
            size=upload.size,
            content_type=(upload.content_type or "application/octet-stream")[:100],
            **owner,
        )
