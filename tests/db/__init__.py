"""Database tests: migrations, RLS and queue functions on a real PostgreSQL 15."""
