"""Acceptance: the real CLIs as subprocesses, the way cron and operators run them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER_A = "00000000-0000-4000-8000-00000000000a"
USER_B = "00000000-0000-4000-8000-00000000000b"


def cli(home, *args, config=None, extra_env=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "ML_PIPELINE_"))}
    env.update(ML_PIPELINE_HOME=str(home), ML_PIPELINE_CONFIG=str(config or REPO / "model_config.yaml"), PYTHONPATH=str(REPO))
    env.update(extra_env or {})
    home.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", *args], cwd=home.parent, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A home filled by sample_data, and the first nightly run already done."""
    home = tmp_path_factory.mktemp("demo") / "home"
    seed = cli(home, "ml_pipeline.sample_data", "--data-dir", str(home.parent / "data"))
    assert seed.returncode == 0, seed.stderr
    first = cli(home, "ml_pipeline.auto_reinforcement", "--artifacts-dir", str(home.parent / "artifacts"))
    return home, seed, first


def rows(home, sql):
    conn = sqlite3.connect(home / "store.db")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(sql)]


def test_main_job_completes_with_metrics_gate_log_and_version(demo):
    home, seed, first = demo
    assert first.returncode == 0, first.stderr
    assert "using the local store in" in first.stderr
    (run,) = rows(home, "SELECT * FROM model_retraining_runs")
    assert run["status"] == "completed" and run["source"] == "auto_daily" and run["dataset_size"] >= 10
    m = json.loads(run["metrics"])
    assert {"accuracy", "precision", "recall", "f1_score"} <= m.keys() and {"accuracy", "f1_score"} <= m["baseline"].keys()
    assert isinstance(m["promoted"], bool) and m["promotion_reason"]
    assert (home / "buckets" / run["log_url"]).is_file()
    (version,) = rows(home, f"SELECT * FROM model_versions WHERE version = {run['model_version']}")
    assert len(version["sha256"]) == 64 and version["status"] in ("champion", "rejected")
    assert f"run {run['id']} [auto_daily] completed" in first.stdout
    summary = json.loads((home.parent / "artifacts" / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["runs"][0]["id"] == run["id"]
    assert (home.parent / "artifacts" / "logs" / f"{run['id']}.log").read_text().strip()


def test_second_run_same_day_creates_no_second_daily_run(demo):
    home, _, _ = demo
    again = cli(home, "ml_pipeline.auto_reinforcement")
    assert again.returncode == 0
    assert "already exists" in again.stderr and "nothing to do" in again.stdout
    assert len(rows(home, "SELECT id FROM model_retraining_runs WHERE source = 'auto_daily'")) == 1


def test_requests_cli_low_then_high_processed_high_first(demo):
    home, _, _ = demo
    low = cli(home, "ml_pipeline.requests", "create", "--reason", "low one", "--priority", "low", "--requested-by", USER_A)
    high = cli(home, "ml_pipeline.requests", "create", "--reason", "urgent", "--priority", "high", "--requested-by", USER_B)
    assert low.returncode == 0 and high.returncode == 0, low.stderr + high.stderr
    dup = cli(home, "ml_pipeline.requests", "create", "--requested-by", USER_A)
    assert dup.returncode != 0 and "already have a pending request" in dup.stderr
    listed = cli(home, "ml_pipeline.requests", "list", "--status", "pending")
    assert listed.stdout.index("urgent") < listed.stdout.index("low one")
    done = cli(home, "ml_pipeline.auto_reinforcement", "--requests-only")
    assert done.returncode == 0, done.stderr
    manual = rows(home, "SELECT r.id, r.triggered_by, q.priority, q.status, q.retraining_run_id FROM model_retraining_runs r "
                        "JOIN model_retraining_requests q ON q.id = r.request_id ORDER BY r.created_at")
    assert [m["priority"] for m in manual] == ["high", "low"]
    assert [m["triggered_by"] for m in manual] == [USER_B, USER_A]
    assert all(m["status"] == "completed" and m["retraining_run_id"] == m["id"] for m in manual)


def test_cancel_request_cli(demo):
    home, _, _ = demo
    made = cli(home, "ml_pipeline.requests", "create", "--requested-by", "00000000-0000-4000-8000-0000000000cc")
    req_id = made.stdout.split()[2]
    assert cli(home, "ml_pipeline.requests", "cancel", req_id).returncode == 0
    again = cli(home, "ml_pipeline.requests", "cancel", req_id)
    assert again.returncode == 1 and "only pending requests can be cancelled" in again.stderr


def test_dry_run_counts_and_writes_nothing(demo):
    home, _, _ = demo
    def snapshot():
        conn = sqlite3.connect(home / "store.db")
        dump = list(conn.iterdump())
        conn.close()
        return dump, sorted(str(p) for p in (home / "buckets").rglob("*"))

    before = snapshot()
    out = cli(home, "ml_pipeline.auto_reinforcement", "--dry-run", "--as-of", "2030-01-01")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dry_run"] is True and "errors_by_class" in report["data"] and report["champion"]["version"] >= 1
    assert snapshot() == before


def test_data_loader_summary(demo):
    home, _, _ = demo
    out = cli(home, "ml_pipeline.data_loader")
    assert out.returncode == 0, out.stderr
    for label in ("Rows read:", "Labelled:", "In window:", "Holdout:", "Errors (conf > 0.7):", "actual away_win:", "confidence (0.90, 1.00]:", "Replay sample:"):
        assert label in out.stdout


def test_broken_config_exits_2_and_records_a_failed_run(tmp_path, demo):
    home, _, _ = demo
    bad = tmp_path / "model_config.yaml"
    bad.write_text((REPO / "model_config.yaml").read_text().replace("confidence_threshold: 0.7", "confidence_threshold: 7"))
    out = cli(home, "ml_pipeline.auto_reinforcement", "--as-of", "2031-05-05T02:00:00Z", config=bad)
    assert out.returncode == 2
    assert "retraining.confidence_threshold' = 7" in out.stderr and "fix:" in out.stderr
    (run,) = rows(home, "SELECT * FROM model_retraining_runs WHERE run_date = '2031-05-05'")
    assert run["status"] == "failed" and "confidence_threshold" in run["error_message"]


def test_broken_log_gives_failed_run_exit_1_and_champion_unchanged(tmp_path):
    home = tmp_path / "home"
    assert cli(home, "ml_pipeline.sample_data", "--data-dir", "").returncode == 0
    champion_before = rows(home, "SELECT version FROM model_versions WHERE status = 'champion'")
    log = home / "buckets" / "evaluation-logs" / "evaluation_log.csv"
    log.write_text(log.read_text().replace("confidence_score", "confidence", 1))
    out = cli(home, "ml_pipeline.auto_reinforcement")
    assert out.returncode == 1
    (run,) = rows(home, "SELECT * FROM model_retraining_runs")
    assert run["status"] == "failed" and "missing column(s) 'confidence_score' (mapped as 'confidence')" in run["error_message"]
    assert "failed" in out.stdout and "confidence_score" in out.stdout
    assert rows(home, "SELECT version FROM model_versions WHERE status = 'champion'") == champion_before


def test_supabase_backend_without_variables_exits_2_naming_them(tmp_path):
    out = cli(tmp_path / "home", "ml_pipeline.auto_reinforcement", "--backend", "supabase", timeout=60)
    assert out.returncode == 2
    assert "SUPABASE_URL and SUPABASE_SERVICE_KEY" in out.stderr
    assert not (tmp_path / "home").exists()  # nothing was written


def test_help_imports_no_heavy_modules():
    code = ("import sys; from ml_pipeline.auto_reinforcement import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('pandas', 'sklearn', 'supabase', 'pyarrow', 'pydantic', 'numpy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"
    helped = subprocess.run([sys.executable, "-m", "ml_pipeline.auto_reinforcement", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    for flag in ("--lookback-days", "--source", "--request-id", "--backend", "--dry-run", "--as-of", "--requests-only", "--artifacts-dir", "ML_PIPELINE_BACKEND"):
        assert flag in helped.stdout


def test_same_data_config_and_as_of_give_the_same_result(tmp_path):
    """--as-of makes a run reproducible: two fresh stores, same inputs, same metrics and model bytes."""
    results = []
    for name in ("a", "b"):
        home = tmp_path / name / "home"
        assert cli(home, "ml_pipeline.sample_data", "--end-day", "2026-10-01", "--data-dir", "").returncode == 0
        out = cli(home, "ml_pipeline.auto_reinforcement", "--as-of", "2026-10-01T02:00:00Z")
        assert out.returncode == 0, out.stderr
        (run,) = rows(home, "SELECT metrics, dataset_size, run_date FROM model_retraining_runs")
        metrics = json.loads(run["metrics"])
        for volatile in ("training_seconds", "alerts"):
            metrics.pop(volatile, None)
        (mv,) = rows(home, f"SELECT sha256 FROM model_versions WHERE version = {metrics['model_version']}")
        log = (home / "buckets" / "evaluation-logs" / "evaluation_log.csv").read_bytes()
        results.append((metrics, run["dataset_size"], run["run_date"], mv["sha256"], log))
    assert results[0] == results[1]
    assert results[0][2] == "2026-10-01"


def test_worse_candidate_is_rejected_and_the_champion_stays(tmp_path):
    """The real trainer and gate: a huge constant step on errors alone (no replay) wrecks the model; the gate refuses it."""
    import yaml

    home = tmp_path / "home"
    assert cli(home, "ml_pipeline.sample_data", "--end-day", "2026-11-20", "--data-dir", "").returncode == 0
    data = yaml.safe_load((REPO / "model_config.yaml").read_text())
    data["retraining"]["replay_ratio"] = 0.0
    config = tmp_path / "model_config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = cli(home, "ml_pipeline.auto_reinforcement", "--as-of", "2026-11-20T02:00:00Z", config=config,
              extra_env={"ML_PIPELINE_LEARNING_RATE": "5.0", "ML_PIPELINE_EPOCHS": "20"})
    assert out.returncode == 0, out.stderr
    (run,) = rows(home, "SELECT * FROM model_retraining_runs")
    m = json.loads(run["metrics"])
    assert run["status"] == "completed" and m["promoted"] is False and m["learning_rate"] == 5.0 and m["epochs"] == 20
    assert m["f1_score"] < m["baseline"]["f1_score"] and "is below the baseline" in m["promotion_reason"]
    assert rows(home, "SELECT version FROM model_versions WHERE status = 'champion'") == [{"version": 1}]
    assert rows(home, f"SELECT status FROM model_versions WHERE version = {run['model_version']}") == [{"status": "rejected"}]
