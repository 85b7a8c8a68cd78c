"""Every write in the marketplace goes through these services (DESIGN.md section 4)."""
