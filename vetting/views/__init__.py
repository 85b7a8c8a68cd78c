"""Vetting pages: challenges, submissions (form, validation report, progress, result), staff pages."""
