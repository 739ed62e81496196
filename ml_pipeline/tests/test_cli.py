"""The shared CLI helper, open_store and the import rules every entry point keeps."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from ml_pipeline.cli import EXIT_INTERRUPTED, add_common_options, parse_as_of, run_main
from ml_pipeline.errors import ConfigError, EvaluationLogError, StoreError

from .conftest import REPO

ENTRY_POINTS = ("auto_reinforcement", "requests", "registry", "sample_data", "champion", "train_model", "data_loader")


def test_pipeline_errors_become_their_exit_code_with_the_cause_chain(capsys):
    def body() -> int:
        try:
            raise OSError("disk full")
        except OSError as exc:
            raise StoreError("cannot write training-logs/x.log") from exc

    assert run_main(body) == 1
    assert capsys.readouterr().err.strip() == "error: cannot write training-logs/x.log: disk full"

    def bad_input() -> int:
        raise EvaluationLogError("log 'x.csv' lacks column 'confidence'")

    assert run_main(bad_input) == 2


def test_ctrl_c_exits_130_without_a_traceback(capsys):
    def body() -> int:
        raise KeyboardInterrupt

    assert run_main(body) == EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_bugs_keep_their_traceback():
    def body() -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_main(body)


def test_on_error_reports_instead_of_stderr(capsys):
    seen = []
    assert run_main(lambda: (_ for _ in ()).throw(ConfigError("bad")), on_error=lambda exc, code: seen.append((str(exc), code))) == 2
    assert seen == [("bad", 2)] and capsys.readouterr().err == ""


def test_common_options_and_as_of():
    p = argparse.ArgumentParser()
    add_common_options(p, as_of=True, log_level=True)
    args = p.parse_args(["--backend", "local", "--config", "c.yaml", "--as-of", "2026-11-20", "--log-level", "debug"])
    assert (args.backend, args.config_path, args.log_level) == ("local", "c.yaml", "DEBUG")
    assert parse_as_of(args.as_of) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_as_of("2026-11-20T03:00:00+01:00") == datetime(2026, 11, 20, 2, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--as-of 'yesterday' is not an ISO 8601 timestamp; use e.g."):
        parse_as_of("yesterday")
    with pytest.raises(SystemExit):
        p.parse_args(["--backend", "mysql"])


def test_open_store_names_the_valid_backends(settings):
    from ml_pipeline.backends import open_store

    with pytest.raises(ConfigError, match="backend 'mysql' is unknown; choose one of auto, local, supabase"):
        open_store(settings.with_overrides(backend="mysql"))
    with pytest.raises(ConfigError, match="needs SUPABASE_URL and SUPABASE_SERVICE_KEY"):
        open_store(settings.with_overrides(backend="supabase"))
    store = open_store(settings)
    try:
        assert store.backend_name == "local" and (settings.home / "store.db").is_file()
    finally:
        store.close()


def test_help_of_every_entry_point_imports_no_heavy_module():
    code = ("import importlib, sys\n"
            f"for name in {ENTRY_POINTS!r}:\n"
            "    m = importlib.import_module('ml_pipeline.' + name)\n"
            "    try:\n"
            "        m.main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = [m for m in ('pandas', 'sklearn', 'supabase', 'pyarrow', 'pydantic', 'numpy', 'yaml', 'httpx') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stderr
    for name in ENTRY_POINTS:
        assert f"python -m ml_pipeline.{name}" in out.stdout or f"ml_pipeline/{name}.py" in out.stdout


def test_champion_prints_the_verified_champion(seeded, settings, monkeypatch, capsys):
    import json

    from ml_pipeline.champion import main

    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home))
    assert main(["--backend", "local", "--config", str(settings.config_path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["version"] == 1 and got["sha256"] == seeded.get_champion().sha256
    from pathlib import Path

    from ml_pipeline.checksums import sha256_file

    assert sha256_file(Path(got["path"])) == got["sha256"]
    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home.parent / "empty"))
    assert main(["--backend", "local", "--config", str(settings.config_path), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["exit_code"] == 2 and "no current model to fine-tune" in captured.err


def test_entry_points_fix_the_mmap_threshold(monkeypatch):
    """run_main fixes glibc's mmap threshold (freed arrays go back to the system: the job's
    peak RSS, bench/README.md); without glibc nothing happens and nothing fails."""
    import ctypes
    import ctypes.util
    import platform

    from ml_pipeline import cli

    calls = []
    real = cli.keep_freed_memory_small
    monkeypatch.setattr(cli, "keep_freed_memory_small", lambda: calls.append(1) or True)
    assert run_main(lambda: 0) == 0 and calls == [1]
    monkeypatch.setattr(cli, "keep_freed_memory_small", real)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert real() is True
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libc-that-does-not-exist.so.9")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: (_ for _ in ()).throw(OSError(f"{name}: cannot open")))
    assert real() is False


@pytest.mark.skipif(sys.platform != "linux", reason="jemalloc is chosen on Linux only")
@pytest.mark.parametrize("user_choice, expected", [(None, "jemalloc"), ("mimalloc", "mimalloc"), ("system", "system")])
def test_entry_points_give_pyarrow_jemalloc_unless_the_user_chose(user_choice, expected):
    """Set up before pyarrow is imported (as run_main does), pyarrow allocates from jemalloc
    (mimalloc faulted each parsed CSV range's pages in again: bench/README.md); a user's
    ARROW_DEFAULT_MEMORY_POOL wins. In a fresh interpreter: pyarrow reads it once, on import."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if user_choice is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = user_choice
    code = ("from ml_pipeline.cli import keep_freed_memory_small; keep_freed_memory_small(); "
            "import pyarrow as pa; print(pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected and out.stderr == ""
