"""Throwaway PostgreSQL 15 cluster for integration tests.

One cluster per test session (initdb into a temp dir, fsync off, unix socket plus
127.0.0.1 on a free port), a template database holding the Supabase stand-in
(tests/db/supabase_standin.sql) and every migration in supabase/migrations/ applied in
filename order, and cheap clones of it (``CREATE DATABASE ... TEMPLATE``) for tests.

PostgreSQL refuses to run as root: under root (tests and CI run as root) initdb and
pg_ctl run as the ``postgres`` system user, created if missing, and the data dir belongs
to it. As a normal user they run as that user. Clients connect over TCP (trust auth: the
cluster lives only for the session) as the cluster superuser ``supabase_admin``, like
Supabase's own admin role, except for the migrations: they run as ``postgres``, a
NON-superuser like on a hosted project, so a migration that needs more (e.g. owning
``storage.objects``) fails here as it would there.

The fixtures that expose this live in tests/conftest.py.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS_DIR = REPO_ROOT / "supabase" / "migrations"
SEED_SQL = REPO_ROOT / "supabase" / "seed.sql"
STANDIN_SQL = REPO_ROOT / "tests" / "db" / "supabase_standin.sql"

PG_MAJOR = 15
DEFAULT_BINDIR = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
SUPERUSER = "supabase_admin"
MIGRATION_ROLE = "postgres"  # created by the stand-in; not a superuser
SERVICE_USER = "postgres"  # OS user that runs the server when the tests run as root
INSTALL_HINT = "install Debian's postgresql: apt-get install -y postgresql"


class PgClusterError(RuntimeError):
    """The test cluster could not be created, started or prepared."""


def find_bindir() -> Path:
    """Return the directory holding initdb/pg_ctl/postgres (env PG_BINDIR overrides).

    Raises PgClusterError naming the package to install when they are missing.
    """
    candidate = Path(os.environ.get("PG_BINDIR") or DEFAULT_BINDIR)
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (candidate / b).is_file()]
    if missing:
        raise PgClusterError(
            f"PostgreSQL {PG_MAJOR} server binaries not found in {candidate} "
            f"(missing: {', '.join(missing)}); {INSTALL_HINT} "
            "(or set PG_BINDIR to a directory holding initdb, pg_ctl and postgres)"
        )
    return candidate


def migration_files() -> list[Path]:
    """The migrations in the order Supabase applies them (by filename)."""
    return sorted(MIGRATIONS_DIR.glob("*.sql"), key=lambda p: p.name)


@dataclass(frozen=True)
class _OsUser:
    uid: int
    gid: int


def _server_os_user() -> _OsUser | None:
    """The OS user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd", "--system", "--user-group", "--no-create-home",
                "--home-dir", "/var/lib/postgresql", "--shell", "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    return _OsUser(entry.pw_uid, entry.pw_gid)


def _others_can_traverse(path: Path) -> bool:
    """True if every directory from / to path is searchable by other users."""
    for part in [path, *path.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _error_line(text: str, exc: psycopg.Error) -> str:
    """'line N: ' for an error raised while running a multi-statement script."""
    position = getattr(exc.diag, "statement_position", None)
    if not position:
        return ""
    return f"line {text[: int(position)].count(chr(10)) + 1}: "


class PgCluster:
    """A running throwaway cluster; create with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, root: Path, port: int, os_user: _OsUser | None, bindir: Path) -> None:
        self.root = root
        self.port = port
        self.host = "127.0.0.1"
        self.datadir = root / "data"
        self.sockdir = root / "sock"
        self.logfile = root / "server.log"
        self._os_user = os_user
        self._bindir = bindir
        self._names = itertools.count(1)
        self._stopped = False

    # lifecycle -----------------------------------------------------------------------

    @classmethod
    def start(cls, base_dir: Path | None = None) -> PgCluster:
        """initdb a new cluster in a temp dir and start it; stop() it when done."""
        bindir = find_bindir()
        os_user = _server_os_user()
        base = Path(base_dir or tempfile.gettempdir())
        if os_user is not None and not _others_can_traverse(base):
            base = Path("/tmp")
        root = Path(tempfile.mkdtemp(prefix="mlp-pg-", dir=base))
        (root / "sock").mkdir()
        if os_user is not None:
            for path in (root, root / "sock"):
                os.chown(path, os_user.uid, os_user.gid)
        cluster = cls(root, 0, os_user, bindir)
        atexit.register(cluster.stop)
        try:
            cluster._run(
                [
                    bindir / "initdb", "-D", cluster.datadir, "-U", SUPERUSER,
                    "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
                ]
            )
            cluster._start_server()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, argv: list[Any], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._os_user is not None:
            kwargs = {"user": self._os_user.uid, "group": self._os_user.gid, "extra_groups": []}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "LC_ALL": "C",
            "TZ": "UTC",
        }
        try:
            return subprocess.run(
                [str(a) for a in argv], cwd=self.root, env=env, check=True,
                capture_output=True, text=True, timeout=timeout, start_new_session=True,
                **kwargs,
            )
        except subprocess.CalledProcessError as exc:
            raise PgClusterError(
                f"{Path(str(argv[0])).name} failed (exit {exc.returncode}):\n"
                f"{exc.stdout}{exc.stderr}{self._log_tail()}"
            ) from exc

    def _start_server(self) -> None:
        last_error: PgClusterError | None = None
        for _ in range(5):  # a free port can be taken between probing and binding
            self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self.sockdir}",
                    "-c listen_addresses=127.0.0.1",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=100",
                    "-c shared_buffers=32MB",
                    "-c wal_init_zero=off",
                    "-c max_wal_size=1GB",
                    "-c timezone=UTC",
                ]
            )
            try:
                self._run(
                    [self._bindir / "pg_ctl", "-D", self.datadir, "-l", self.logfile,
                     "-o", options, "-w", "-t", "60", "start"]
                )
                return
            except PgClusterError as exc:
                last_error = exc
                if "could not bind" not in self._log_tail() and "in use" not in self._log_tail():
                    raise
        assert last_error is not None
        raise last_error

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (fast, then immediate, then SIGKILL) and delete its files."""
        if self._stopped:
            return
        self._stopped = True
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists():
            for mode in ("fast", "immediate"):
                with contextlib.suppress(PgClusterError, subprocess.TimeoutExpired):
                    self._run([self._bindir / "pg_ctl", "-D", self.datadir, "-m", mode,
                               "-w", "-t", "30", "stop"], timeout=40)
                    break
            if pidfile.exists():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGKILL)
                    time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)

    # databases -----------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """libpq URI for dbname, as user (default the superuser)."""
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit superuser connection to dbname."""
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def unique_name(self, hint: str) -> str:
        """A fresh database name derived from hint (at most 63 bytes)."""
        slug = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:40] or "db"
        return f"t{next(self._names):04d}_{slug}"

    def create_database(self, name: str, template: str | None = None) -> PgDatabase:
        """CREATE DATABASE name [TEMPLATE template] and return a handle to it."""
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template is not None:
            # PostgreSQL 15's default WAL_LOG strategy: ~20 ms for our template, while
            # FILE_COPY forces two checkpoints (~130 ms).
            query = sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with self.admin() as conn:
            conn.execute(query)
        return PgDatabase(self, name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE name, disconnecting whoever is still connected."""
        with self.admin() as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

    def build_template(self, name: str, files: list[Path] | None = None) -> str:
        """Create database name with the stand-in and all migrations, mark it a template.

        files defaults to the stand-in (applied as the superuser) followed by
        migration_files() (applied as the non-superuser ``postgres``). Returns name.
        """
        db = self.create_database(name)
        for path in files if files is not None else [STANDIN_SQL, *migration_files()]:
            db.apply_sql_file(path, user=SUPERUSER if path == STANDIN_SQL else MIGRATION_ROLE)
        with self.admin() as conn:
            conn.execute(
                sql.SQL("alter database {} with is_template true").format(sql.Identifier(name))
            )
        return name


class PgDatabase:
    """One database of a PgCluster: ``.dsn`` plus helpers to act as Supabase roles."""

    def __init__(self, cluster: PgCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.dsn = cluster.dsn(name)

    def __repr__(self) -> str:
        return f"PgDatabase({self.dsn!r})"

    def apply_sql_file(self, path: Path, user: str = MIGRATION_ROLE) -> None:
        """Run a SQL script in one transaction as user, as migration tools do.

        user defaults to the non-superuser ``postgres`` that `supabase db push` uses; the
        stand-in itself must be applied as SUPERUSER. Raises PgClusterError naming the
        file and line of the first error.
        """
        text = path.read_text()
        with psycopg.connect(self.cluster.dsn(self.name, user)) as conn:
            try:
                with conn.transaction():
                    conn.execute(text.encode())
            except psycopg.Error as exc:
                raise PgClusterError(f"{path.name}: {_error_line(text, exc)}{exc}") from exc

    def connect(
        self,
        role: str | None = None,
        claims: Mapping[str, Any] | None = None,
        *,
        autocommit: bool = True,
    ) -> psycopg.Connection[Any]:
        """Connect and act as role with JWT claims for the whole session.

        role None stays the superuser. claims default to ``{"role": role}``; for a user
        pass :func:`user_claims`. Like PostgREST: ``set role`` plus ``request.jwt.claims``.
        """
        conn = psycopg.connect(self.dsn, autocommit=True)
        try:
            if role is not None:
                set_role(conn, role, claims, local=False)
            conn.autocommit = autocommit
        except BaseException:
            conn.close()
            raise
        return conn

    def connect_as_user(self, user_id: str, **kwargs: Any) -> psycopg.Connection[Any]:
        """connect() as a signed-in user (role authenticated, sub = user_id)."""
        return self.connect("authenticated", user_claims(user_id), **kwargs)

    def drop(self) -> None:
        """Drop this database."""
        self.cluster.drop_database(self.name)


def user_claims(user_id: str) -> dict[str, str]:
    """JWT claims of a signed-in Supabase user."""
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


def set_role(
    conn: psycopg.Connection[Any],
    role: str,
    claims: Mapping[str, Any] | None = None,
    *,
    local: bool = True,
) -> None:
    """Act as role with claims on conn (transaction-local by default, like PostgREST).

    local=True needs an open transaction (autocommit off); the superuser comes back at
    commit or rollback.
    """
    payload = json.dumps(dict(claims) if claims is not None else {"role": role})
    conn.execute("select set_config('request.jwt.claims', %s, %s)", [payload, local])
    keyword = "set local role {}" if local else "set role {}"
    conn.execute(sql.SQL(keyword).format(sql.Identifier(role)))


@contextlib.contextmanager
def acting_as(
    conn: psycopg.Connection[Any], role: str, claims: Mapping[str, Any] | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """Run a block as role inside a transaction that is always rolled back."""
    with conn.transaction(force_rollback=True):
        set_role(conn, role, claims, local=True)
        yield conn
