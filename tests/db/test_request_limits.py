"""The words of the request refusals (WEB_CONTRACT: P0001 'retraining request refused: ...').

The page shows the text after the prefix; PostgREST turns SQLSTATE P0001 into HTTP 400.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.pgcluster import PgDatabase, set_role, user_claims

USER = uuid.UUID("00000000-0000-4000-a000-0000000000f1")
INSERT = "insert into public.model_retraining_requests (requested_by, priority) values (%s, %s)"


@pytest.fixture
def conn(pg_db_module: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    with pg_db_module.connect() as c, c.transaction(force_rollback=True):
        c.execute("insert into auth.users (id) values (%s)", [USER])
        yield c


def _as(conn: psycopg.Connection[Any], ml_role: str | None, **extra: Any) -> None:
    claims: dict[str, Any] = {**user_claims(str(USER)), "app_metadata": {}, **extra}
    if ml_role:
        claims["app_metadata"]["ml_role"] = ml_role
    set_role(conn, "authenticated", claims)


def _refusal(conn: psycopg.Connection[Any], priority: str = "normal") -> str:
    with pytest.raises(errors.RaiseException) as caught, conn.transaction():
        conn.execute(INSERT, [USER, priority])
    assert caught.value.sqlstate == "P0001"
    return caught.value.diag.message_primary or ""


def test_high_priority_by_a_viewer(conn: psycopg.Connection[Any]) -> None:
    _as(conn, "viewer")
    assert _refusal(conn, "high") == (
        "retraining request refused: only operators may ask for high priority; ask with normal or "
        "low priority, or ask an admin for the operator role"
    )


def test_no_role_and_anonymous_sign_in(conn: psycopg.Connection[Any]) -> None:
    expected = ("retraining request refused: this account has no access yet; an admin must grant it "
                "the viewer or operator role")
    _as(conn, None)
    assert _refusal(conn) == expected
    conn.execute("reset role")
    _as(conn, "operator", is_anonymous=True)
    assert _refusal(conn) == expected


def test_rate_limit_says_when_to_try_again_in_utc(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "insert into public.model_retraining_requests (requested_by, status, created_at) "
        "values (%s, 'cancelled', now() - interval '1 minute')", [USER],
    )
    _as(conn, "operator")
    message = _refusal(conn)
    match = re.fullmatch(
        r"retraining request refused: rate limit: your previous request was at "
        r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC; you may ask again from (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC",
        message,
    )
    assert match, message
    conn.execute("reset role")
    previous, again = conn.execute(
        "select to_char((now() - interval '1 minute') at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
        "to_char((now() + interval '9 minutes') at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
    ).fetchone()  # type: ignore[misc]
    assert match.groups() == (previous, again)


def test_daily_cap_says_the_cap_and_the_reset(conn: psycopg.Connection[Any]) -> None:
    conn.execute("update public.retraining_request_limits set min_seconds_between_requests = 0, daily_cap_per_user = 2")
    conn.execute(
        "insert into public.model_retraining_requests (requested_by, status, created_at) "
        "select %s, 'cancelled', date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' from generate_series(1, 2)",
        [USER],
    )
    tomorrow = conn.execute(
        "select to_char((now() at time zone 'UTC')::date + 1, 'YYYY-MM-DD')"
    ).fetchone()[0]  # type: ignore[index]
    _as(conn, "viewer")
    assert _refusal(conn) == (
        "retraining request refused: daily cap reached: at most 2 requests per user per day (UTC); "
        f"the cap resets at {tomorrow} 00:00 UTC"
    )


def test_one_pending_request_per_user_is_still_the_unique_index(conn: psycopg.Connection[Any]) -> None:
    _as(conn, "viewer")
    conn.execute(INSERT, [USER, "normal"])  # within any rate limit of itself
    with pytest.raises(errors.UniqueViolation), conn.transaction():
        conn.execute(INSERT, [USER, "low"])


def test_the_service_role_is_not_limited(conn: psycopg.Connection[Any]) -> None:
    conn.execute("update public.retraining_request_limits set daily_cap_per_user = 1, daily_cap_total = 1")
    set_role(conn, "service_role")
    for status in ("cancelled", "cancelled", "pending"):
        conn.execute(
            "insert into public.model_retraining_requests (requested_by, priority, status) values (%s, 'high', %s)",
            [USER, status],
        )
