"""A page as a PDF: the page's own template rendered to HTML, laid out by WeasyPrint with the print
stylesheet (`@media print`), so the PDF is what printing the page gives.

The renderer fetches only the site's own static files, from disk; any other address in the page
(another host, a file path, a data URL) is refused, so rendering a page can never reach the network.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

# The page's own address as the renderer sees it: relative links resolve against it, and only it.
BASE_URL = "https://pdf.invalid/"
MIME_TYPES = {".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".woff2": "font/woff2"}


def _static_path(name: str) -> str | None:
    """A static file's path on disk: collected (the name may be hashed) or still in its app."""
    if staticfiles_storage.exists(name):
        return staticfiles_storage.path(name)
    return finders.find(name)


class StaticFilesOnly(URLFetcher):
    def fetch(self, url, headers=None):
        parts = urlsplit(url)
        static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        if f"{parts.scheme}://{parts.netloc}/" != BASE_URL or not parts.path.startswith(static_prefix):
            raise ValueError(f"Not one of the site's static files: {url}")
        name = parts.path.removeprefix(static_prefix)
        path = _static_path(name) if ".." not in name.split("/") else None
        if path is None:
            raise ValueError(f"No such static file: {name}")
        suffix = name[name.rfind(".") :]
        with open(path, "rb") as handle:
            body = handle.read()
        return URLFetcherResponse(
            url, body, {"Content-Type": MIME_TYPES.get(suffix, "application/octet-stream")}
        )


def html_to_pdf(html: str) -> bytes:
    return HTML(string=html, base_url=BASE_URL, url_fetcher=StaticFilesOnly()).write_pdf()


def pdf_download(request: HttpRequest, template: str, context: dict, *, filename: str) -> HttpResponse:
    """The page `template` renders for `context`, as a PDF attachment named `filename`."""
    html = render_to_string(template, context, request=request)
    return HttpResponse(
        html_to_pdf(html),
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
