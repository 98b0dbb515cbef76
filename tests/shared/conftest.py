"""PostgreSQL for the store and job tests: a throwaway cluster per session (tests/pg.py)."""

import pytest

from tests.pg import pg_cluster, pg_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> str | None:
    """The same test on both backends: None is SQLite (the default), else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")
