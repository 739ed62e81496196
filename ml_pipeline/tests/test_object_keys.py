"""object_keys.py and printable.py: unsafe object keys on both stores, escaped reasons."""

from __future__ import annotations

import pytest
import respx

from ml_pipeline.errors import ConfigError
from ml_pipeline.local_store import LocalStore
from ml_pipeline.object_keys import key_problem
from ml_pipeline.printable import escape_control
from ml_pipeline.supabase_client import SupabaseStore

from .test_supabase_client import KEY, PROBE, RUNS, URL

UNSAFE = {
    "a%2e%2e/b.csv": "contains '%'",
    "%2e%2e%2fmodels%2fv1%2fmodel.joblib": "contains '%'",
    "../models/v1/model.joblib": "'.' or '..' segment",
    "daily/../../etc/passwd": "'.' or '..' segment",
    "daily/..": "'.' or '..' segment",
    "./x.csv": "'.' or '..' segment",
    "/etc/passwd": "starts with '/'",
    "daily//x.csv": "empty segment",
    "..\\models\\v1": "backslash",
    "x\x1b[2J.csv": "control character U+001B",
    "x\n.csv": "control character U+000A",
    "": "empty",
}
SAFE = ["evaluation_log.csv", "daily/2026-11-26.csv", "v3/model.joblib", "0b3e9d1e.log", "a..b/c.d..csv", "daily/"]


@pytest.mark.parametrize("key", sorted(UNSAFE), ids=repr)
def test_unsafe_keys_are_named_with_the_reason(key):
    assert UNSAFE[key] in (key_problem(key) or "")


@pytest.mark.parametrize("key", SAFE)
def test_plain_keys_pass(key):
    assert key_problem(key) is None


@pytest.fixture(params=["local", "supabase"])
def any_store(request, tmp_path):
    if request.param == "local":
        s = LocalStore(tmp_path / "home")
        yield s, None
        s.close()
        return
    with respx.mock(base_url=URL, assert_all_called=False) as api:
        api.get(RUNS, params=PROBE).respond(200, json=[])
        s = SupabaseStore(URL, KEY, backoff=0)
        yield s, api
        s.close()


@pytest.mark.parametrize("key", ["a%2e%2e/b.csv", "../models/v1/model.joblib", "x\x1b.csv"], ids=repr)
def test_both_stores_refuse_before_touching_anything(any_store, key, tmp_path):
    store, api = any_store
    calls_before = len(api.calls) if api is not None else 0
    for action in (
        lambda: store.put_object("evaluation-logs", key, b"x"),
        lambda: store.get_object("evaluation-logs", key),
        lambda: store.download_object("evaluation-logs", key, tmp_path / "dest"),
        lambda: store.delete_objects("evaluation-logs", [key]),
    ):
        with pytest.raises(ConfigError, match=r"object key .* in bucket 'evaluation-logs' is refused: it "):
            action()
    if api is not None:
        assert len(api.calls) == calls_before, "a refused key must not reach Storage"
    else:
        assert not (tmp_path / "home" / "buckets" / "models").exists()


def test_reason_is_printed_with_control_characters_escaped():
    assert escape_control("drift\x1b[2J\x1b]0;pwned\x07 after\nupdate \u202eevil") == (
        "drift\\x1b[2J\\x1b]0;pwned\\x07 after\\nupdate \\u202eevil"
    )
    assert escape_control("é ünïcode \\ kept") == "é ünïcode \\\\ kept"
    assert escape_control(None) == ""


def test_requests_list_escapes_the_reason(tmp_path, monkeypatch, capsys):
    from ml_pipeline.requests import main

    from .conftest import CONFIG

    monkeypatch.setenv("ML_PIPELINE_HOME", str(tmp_path / "home"))
    args = ["--backend", "local", "--config", str(CONFIG)]
    assert main([*args, "create", "--reason", "retrain\x1b[31m now\x1b[0m", "--requested-by", "00000000-0000-4000-a000-000000000001"]) == 0
    capsys.readouterr()
    assert main([*args, "list"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "retrain\\x1b[31m now\\x1b[0m" in out
