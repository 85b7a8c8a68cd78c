"""Page uploads over their field's cap: read and dropped while they stream, answered next to the field."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import resolve, reverse

from core.uploads import OversizedUpload
from marketplace.models import Delivery, Milestone
from tests.factories import milestone_in_state

pytestmark = pytest.mark.django_db

CHUNK = 64 * 1024  # Django's multipart chunk size: what may pass before the cap is seen


def test_a_page_file_over_its_fields_cap_is_dropped_while_it_streams(settings, tmp_path):
    settings.ATTACHMENT_MAX_BYTES = 100_000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000  # whatever is stored goes to a temporary file
    url = reverse("milestone-action", args=[1, "submit"])
    big = SimpleUploadedFile("weights.bin", b"x" * 5_000_000)
    request = RequestFactory().post(url, {"m1-message": "Weights attached.", "m1-attachments": [big]})
    request.resolver_match = resolve(url)

    upload = request.FILES["m1-attachments"]

    assert isinstance(upload, OversizedUpload)
    assert upload.name == "weights.bin" and 100_000 < upload.size <= 100_000 + CHUNK
    assert upload.read() == b""
    assert request.POST["m1-message"] == "Weights attached."  # the rest of the form still arrives
    assert all(path.stat().st_size <= 100_000 + CHUNK for path in tmp_path.iterdir())


def test_a_file_under_its_cap_arrives_whole(settings):
    settings.ATTACHMENT_MAX_BYTES = 100_000
    url = reverse("milestone-action", args=[1, "submit"])
    request = RequestFactory().post(url, {"m1-attachments": [SimpleUploadedFile("notes.txt", b"y" * 99_000)]})
    request.resolver_match = resolve(url)
    upload = request.FILES["m1-attachments"]
    assert not isinstance(upload, OversizedUpload) and upload.read() == b"y" * 99_000


def test_the_delivery_page_answers_an_oversized_attachment_next_to_the_field(client, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    milestone = milestone_in_state(Milestone.State.IN_PROGRESS)
    client.force_login(milestone.engagement.engineer)
    prefix = f"m{milestone.pk}"
    response = client.post(
        reverse("milestone-action", args=[milestone.pk, "submit"]),
        {
            f"{prefix}-message": "Weights attached.",
            f"{prefix}-attachments": [SimpleUploadedFile("weights.zip", b"x" * 3_000_000)],
        },
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "weights.zip: larger than 1 MB." in text
    assert "Weights attached." in text  # what was typed is kept
    assert not Delivery.objects.filter(milestone=milestone).exists()
