"""Database plumbing the ORM does not provide (core/db/prepared.py says why it is hand-made)."""
