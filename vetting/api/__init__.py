"""The vetting API, included by config/api_urls.py under /api/v1/."""
