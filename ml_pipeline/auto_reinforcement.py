"""The Auto Reinforcement Loop: one invocation of the nightly / on-demand job.

``python -m ml_pipeline.auto_reinforcement`` does, in order:

1. marks runs whose runner stopped sending heartbeats ``failed`` and re-queues their
   requests (bounded attempts);
2. processes **every** pending "Retrain Now" request, high > normal > low then oldest,
   each with its own ``manual`` run linked to the request (``triggered_by`` = requester);
3. the nightly run, at most once per UTC day: ``auto_daily`` (fine-tune), or
   ``decay_triggered`` (from scratch) when the live accuracy of the last days fell more
   than ``decay.max_accuracy_drop`` below the days before;
4. deletes training logs older than the retention, computes the alerts and prints them.

Each run: read the evaluation log window, keep the high-confidence errors, build
errors + replay and a holdout, run ``train_model.py`` in a subprocess (timeout, minimal
environment without secrets), register the candidate, apply the promotion gate, store
the run's log and metrics. Too few errors is a ``skipped`` run with its reason.

Exit codes: 0 every run completed or skipped (or nothing to do), 1 a run failed or the
job was cancelled, 2 configuration error.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ml_pipeline.cli import add_common_options, parse_as_of, report_error, run_main, settings_from, setup_logging
from ml_pipeline.config import DEFAULT_LOOKBACK_DAYS
from ml_pipeline.errors import (
    CancelledError,
    ConfigError,
    DailyRunExistsError,
    EvaluationLogError,
    LeaseLostError,
    PipelineError,
    TrainingError,
    describe,
)
from ml_pipeline.records import BUCKET_TRAINING_LOGS, RUN_SOURCES, Claim, ModelVersion, Run, RunSource, RunStatus, utcnow

if TYPE_CHECKING:
    from ml_pipeline.config import Settings
    from ml_pipeline.registry import GateDecision, Registry
    from ml_pipeline.store import Store

Clock = Callable[[], datetime]

log = logging.getLogger("ml_pipeline.auto_reinforcement")

TRAINER = Path(__file__).resolve().parent / "train_model.py"
# Variables the training subprocess may inherit: no secrets (SUPABASE_* never pass).
SAFE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "LOG_LEVEL", "VIRTUAL_ENV", "PYTHONHASHSEED",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "ARROW_DEFAULT_MEMORY_POOL")


# --------------------------------------------------------------------------- outcome
@dataclass
class RunOutcome:
    """What happened to one run, for the summary, the exit code and artifacts."""

    run_id: str
    source: str
    status: str
    request_id: str | None = None
    dataset_size: int = 0
    error_message: str | None = None
    skip_reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    log_url: str | None = None
    log_text: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for summary.json (no log text); the run id is ``id``."""
        d = {k: v for k, v in self.__dict__.items() if k not in ("log_text", "run_id")}
        return {"id": self.run_id, **d}

    def line(self) -> str:
        """One human line."""
        head = f"run {self.run_id} [{self.source}] {self.status}"
        if self.status == "failed":
            return f"{head}: {self.error_message}"
        if self.status == "skipped":
            return f"{head}: {self.skip_reason}"
        m = self.metrics
        base = m.get("baseline") or {}
        f1 = f"f1 {m.get('f1_score', 0):.4f}" + (f" (baseline {base['f1_score']:.4f})" if base else "")
        verdict = f"promoted v{m.get('model_version')}" if m.get("promoted") else f"rejected v{m.get('model_version')}"
        return f"{head}: {self.dataset_size} errors, {f1}, {verdict}: {m.get('promotion_reason')}"


# --------------------------------------------------------------------------- helpers
class _RunLog:
    """Captures this run's log lines (ours and the trainer's) for the stored log file."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def __enter__(self) -> _RunLog:
        logger = logging.getLogger("ml_pipeline")
        self._level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:  # the stored log always has INFO lines
            logger.setLevel(logging.INFO)
        self.handler.setLevel(logging.INFO)
        logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        logger = logging.getLogger("ml_pipeline")
        logger.removeHandler(self.handler)
        logger.setLevel(self._level)

    def text(self) -> str:
        return self.buffer.getvalue()


class _Heartbeat:
    """Background heartbeats for one run; notices when the lease is lost."""

    def __init__(self, store: Store, run_id: str, token: str, every: float) -> None:
        self.store, self.run_id, self.token, self.every = store, run_id, token, every
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id[:8]}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if not self.store.heartbeat(self.run_id, self.token):
                    log.error("lease lost for run %s: another runner reaped it", self.run_id)
                    self.lost.set()
                    return
            except Exception as exc:  # a missed beat is not fatal (the lease has slack); a dead thread would be
                log.warning("heartbeat failed: %s", describe(exc))

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Cancellation:
    """SIGINT/SIGTERM handling: stop the trainer, finish the run as failed, claim nothing new."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self.child: subprocess.Popen[str] | None = None

    def install(self) -> None:
        """Install handlers (main thread only); :meth:`restore` puts the previous ones back."""
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore(self) -> None:
        """Reinstall the handlers that were there before :meth:`install`."""
        for sig, handler in getattr(self, "_previous", {}).items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.terminate()

    def check(self) -> None:
        """Raise ``CancelledError`` once a stop was asked for."""
        if self.event.is_set():
            raise CancelledError(f"cancelled: received {self.signal_name or 'a stop request'}")


def _pdeathsig_setter() -> Any:
    """A function for ``preexec_fn`` (Linux): the trainer gets SIGTERM when the runner dies, even
    by SIGKILL, so no orphan trains on. Resolved in the parent: the child only makes one call,
    taking no lock (preexec_fn runs between fork and exec while the heartbeat thread exists)."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm)


def minimal_env() -> dict[str, str]:
    """The trainer's environment: only ``SAFE_ENV`` (never the service key)."""
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_trainer_output(stdout: str, returncode: int) -> dict[str, Any]:
    """The trainer's result: the last non-empty stdout line, which must be one JSON object."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise TrainingError(f"train_model.py printed no result line (exit code {returncode}); see the run log")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise TrainingError(f"train_model.py's last output line is not JSON (exit code {returncode}): {lines[-1][:200]!r}") from exc
    if not isinstance(result, dict) or "status" not in result:
        raise TrainingError(f"train_model.py's result has no status: {lines[-1][:200]!r}")
    return result


@dataclass(frozen=True)
class TrainingJob:
    """What the job asks of the trainer: the arguments of one ``train_model.py`` call."""

    dataset: Path
    config: Path
    fine_tune: bool
    output_dir: Path
    learning_rate: float
    epochs: int
    holdout: Path
    random_seed: int
    model_path: Path | None = None
    model_sha256: str | None = None
    reference_path: Path | None = None
    reference_sha256: str | None = None
    reference_version: int | None = None

    def argv(self) -> list[str]:
        """Command-line arguments of train_model.py."""
        args = ["--dataset", str(self.dataset), "--config", str(self.config), "--fine_tune", "true" if self.fine_tune else "false",
                "--output_dir", str(self.output_dir), "--learning_rate", repr(self.learning_rate), "--epochs", str(self.epochs),
                "--holdout", str(self.holdout), "--random_seed", str(self.random_seed)]
        if self.model_path is not None:
            args += ["--model_path", str(self.model_path), "--model_sha256", self.model_sha256 or ""]
        if self.reference_path is not None:
            args += ["--reference_path", str(self.reference_path), "--reference_sha256", self.reference_sha256 or ""]
            if self.reference_version is not None:
                args += ["--reference_version", str(self.reference_version)]
        return args


class TrainerRunner(Protocol):
    """Runs one training and returns the trainer's result object (``status``, ``model_path``,
    ``sha256``, ``metrics``...); raises ``TrainingError`` or ``CancelledError``."""

    def __call__(self, job: TrainingJob, timeout: int, cancel: Cancellation) -> dict[str, Any]: ...


class SubprocessTrainer:
    """The production trainer: ``train_model.py`` in a child process.

    Timeout, a minimal environment without secrets, SIGTERM to the child when the runner
    dies (Linux), stop on cancellation, stderr copied into the run log, exit code 2 = bad
    input (not retryable). ``script`` and ``extra_args`` let a test run a wrapper script.
    """

    def __init__(self, script: Path = TRAINER, python: str = sys.executable, extra_args: tuple[str, ...] = ()) -> None:
        self.script, self.python, self.extra_args = Path(script), python, tuple(extra_args)

    def __call__(self, job: TrainingJob, timeout: int, cancel: Cancellation) -> dict[str, Any]:
        cmd = [self.python, str(self.script), *self.extra_args, *job.argv()]
        log.info("running %s %s", TRAINER.name, " ".join(job.argv()))
        with tempfile.TemporaryFile("w+") as err_file:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, text=True, env=minimal_env(), cwd=str(Path.cwd()),
                                    preexec_fn=_pdeathsig_setter())
            cancel.child = proc
            out_chunks: list[str] = []
            reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read() if proc.stdout else ""), daemon=True)
            reader.start()
            deadline = time.monotonic() + timeout
            try:
                while proc.poll() is None:
                    if cancel.event.is_set():
                        proc.terminate()
                        self._reap_child(proc)
                        cancel.check()
                    if time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        raise TrainingError(f"train_model.py did not finish within {timeout} s (retraining.training_timeout_seconds); it was stopped")
                    time.sleep(0.05)
            finally:
                cancel.child = None
            reader.join(timeout=10)
            err_file.seek(0)
            stderr = err_file.read()
        for line in stderr.splitlines():
            log.info("trainer | %s", line)
        cancel.check()
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            raise TrainingError(f"train_model.py was killed by {name}; if the machine ran out of memory, "
                                "give the job more memory or shorten --lookback-days")
        result = parse_trainer_output("".join(out_chunks), proc.returncode)
        if result["status"] != "ok" or proc.returncode != 0:
            exc = TrainingError(f"train_model.py failed (exit code {proc.returncode}): {result.get('error', 'no message')}")
            exc.retryable = proc.returncode not in (2,)  # bad input recurs; other failures may not
            raise exc
        return result

    @staticmethod
    def _reap_child(proc: subprocess.Popen[str]) -> None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- the job
class Job:
    """One invocation: a store, settings, a runner identity and the outcomes so far.

    ``trainer`` runs one training (default: :class:`SubprocessTrainer`, the real
    train_model.py in a child process); ``clock`` gives "now" for the run's timestamps,
    log retention and alerts (default: UTC wall time). Tests pass fakes for both.
    """

    def __init__(self, settings: Settings, store: Store, *, as_of: datetime, trainer: TrainerRunner | None = None, clock: Clock = utcnow,
                 cancellation: Cancellation | None = None) -> None:
        from ml_pipeline.registry import Registry

        self.settings = settings
        self.store = store
        self.as_of = as_of
        self.trainer: TrainerRunner = trainer or SubprocessTrainer()
        self.clock = clock
        self.cancel = cancellation or Cancellation()
        self.runner = f"{socket.gethostname()}:{os.getpid()}"
        self.registry: Registry = Registry(store, settings.home / "cache")
        self.outcomes: list[RunOutcome] = []
        self.lease_lost = False

    # ---- top level
    def reap(self) -> list[str]:
        """Fail stale runs and re-queue their requests."""
        r = self.settings.model.runner
        reaped = self.store.reap_stale_runs(r.lease_seconds, r.max_attempts)
        for run_id in reaped:
            log.warning("run %s had no heartbeat for more than %d s: marked failed (runner lost)", run_id, r.lease_seconds)
        return reaped

    def process_requests(self, request_id: str | None = None, lookback_days: int | None = None) -> None:
        """Claim and run pending requests until none is left (or exactly ``request_id``).

        A request this invocation ran and re-queued (a transient failure) is left for the
        next invocation: retrying it at once would spend every attempt within seconds of
        one outage. The other pending requests are still taken, in priority order.
        """
        import uuid

        ran: set[str] = set()
        while True:
            self.cancel.check()
            if self.lease_lost:
                return
            token = str(uuid.uuid4())
            claim = self._claim(token, request_id, ran)
            if claim is None:
                if request_id is not None:
                    req = self.store.get_request(request_id)
                    state = "does not exist" if req is None else f"is {req.status}, not pending"
                    raise ConfigError(f"request {request_id} {state}; nothing to process")
                return
            req = claim.request
            log.info("claimed request %s (priority %s, attempt %d) as run %s", req.id, req.priority, req.attempts, claim.run.id)
            self.execute(claim.run, token, fine_tune=True, lookback_days=lookback_days, request_id=req.id, attempts=req.attempts)
            if request_id is not None:
                return
            ran.add(req.id)

    def _claim(self, token: str, request_id: str | None, ran: set[str]) -> Claim | None:
        """The next claim: the queue's head, or, once this invocation re-queued something, the
        first pending request it has not run yet (claimed by id, still atomic)."""
        if request_id is not None or not ran:
            return self.store.claim_next_request(runner=self.runner, lease_token=token, as_of=self.as_of, request_id=request_id)
        for pending in self.store.list_requests(status="pending"):
            if pending.id in ran:
                log.info("request %s was re-queued by this run; the next invocation retries it", pending.id)
                continue
            claim = self.store.claim_next_request(runner=self.runner, lease_token=token, as_of=self.as_of, request_id=pending.id)
            if claim is not None:
                return claim
        return None

    def nightly(self, source: str = RunSource.AUTO_DAILY, lookback_days: int | None = None) -> None:
        """The once-a-day run (``auto_daily``/``decay_triggered``) or a one-off ``manual`` run."""
        import uuid

        self.cancel.check()
        token = str(uuid.uuid4())
        try:
            run = self.store.create_run(source=source, as_of=self.as_of, lease_token=token, runner=self.runner, fine_tune_flag=source != "decay_triggered")
        except DailyRunExistsError as exc:
            log.info("%s: nothing to do", exc)
            return
        self.execute(run, token, fine_tune=source != "decay_triggered", lookback_days=lookback_days, detect=source == "auto_daily")

    # ---- one run
    def execute(self, run: Run, token: str, *, fine_tune: bool, lookback_days: int | None, request_id: str | None = None, attempts: int = 0, detect: bool = False) -> RunOutcome:
        """Do one run from data to decision; always leaves the run in a final state (unless fenced)."""
        outcome = RunOutcome(run.id, run.source, "running", request_id=request_id)
        retryable = False
        final: dict[str, Any] = {}
        with _RunLog() as runlog, tempfile.TemporaryDirectory(prefix=f"ml_pipeline-run-{run.id[:8]}-") as tmp, \
                _Heartbeat(self.store, run.id, token, self.settings.model.runner.heartbeat_seconds) as beat:
            log.info("run %s (%s) started by %s at as-of %s", run.id, run.source, self.runner, self.as_of.isoformat())
            try:
                final = self._work(run, token, Path(tmp), beat, fine_tune=fine_tune, lookback_days=lookback_days, detect=detect)
                outcome.source = final.get("source", run.source)
            except LeaseLostError as exc:
                log.error("%s", describe(exc))
                self.lease_lost = True
                outcome.status, outcome.error_message = "lost", describe(exc)
                self.outcomes.append(outcome)
                return outcome
            except CancelledError as exc:
                final = {"status": "failed", "error_message": describe(exc)}
                retryable = True
            except PipelineError as exc:
                from ml_pipeline.data_loader import public_message

                log.error("run failed: %s", describe(exc))
                final = {"status": "failed", "error_message": public_message(exc)}  # no log cell values
                retryable = exc.retryable
            except Exception as exc:  # recorded as failed; the traceback goes to the run log
                log.exception("run failed unexpectedly")
                final = {"status": "failed", "error_message": f"unexpected {type(exc).__name__}: {describe(exc)}"}
            if beat.lost.is_set():
                self.lease_lost = True
                outcome.status, outcome.error_message = "lost", "lease lost while running; nothing was written"
                self.outcomes.append(outcome)
                return outcome
            log.info("run %s finished: %s", run.id, final.get("status"))
            outcome.log_text = runlog.text()
        self._finish(run, token, final, outcome, request_id=request_id, retryable=retryable, attempts=attempts)
        self.outcomes.append(outcome)
        return outcome

    def _work(self, run: Run, token: str, workdir: Path, beat: _Heartbeat, *, fine_tune: bool, lookback_days: int | None, detect: bool) -> dict[str, Any]:
        from ml_pipeline.data_loader import LogSchema, Window, resolve_sources, select_datasets, write_datasets
        from ml_pipeline.datasets import decay_verdict

        s = self.settings
        lookback = lookback_days or s.lookback_days
        window = Window.ending_at(self.as_of, lookback)
        recent = window.end - timedelta(days=s.model.decay.recent_days)
        periods = (recent - timedelta(days=s.model.decay.reference_days), recent)
        read_window = Window(min(periods[0], window.start), window.end) if detect else window
        schema, r = LogSchema.from_model_config(s.model), s.model.retraining
        state: dict[str, Any] = {}

        def from_scratch(counts: Any) -> bool:
            """The decay verdict (counted while reading), then: is the from-scratch training set needed?"""
            self.cancel.check()
            state["decay"] = decay_verdict(counts, s.model.decay) if counts is not None else None
            if not fine_tune or (state["decay"] and state["decay"][0]):
                return True
            champ = self.registry.champion()
            return champ is None or not champ.fine_tunable

        def select(read: Window, folder: str) -> Any:
            sources = resolve_sources(self.store, s.model.evaluation_log.path, read, workdir / folder)
            return select_datasets(sources, schema, window, confidence_threshold=s.confidence_threshold, min_samples=s.min_error_samples,
                                   holdout_fraction=r.holdout_fraction, replay_ratio=r.replay_ratio, random_seed=r.random_seed,
                                   decay_periods=periods if read != window else None, full=from_scratch)

        try:
            ds = select(read_window, "log")
        except EvaluationLogError as exc:
            if read_window == window:
                raise
            # Bad rows only in the extra days the decay check reads must not fail the run:
            # validate strictly what is trained on, and skip the decay check.
            log.warning("decay check skipped: the %d days before the window cannot be used: %s", (window.start - read_window.start).days, describe(exc))
            ds = select(window, "log-window")
        source: str = run.source
        if state.get("decay") is not None:
            decayed, why = state["decay"]
            log.info("decay check: %s", why)
            if decayed:
                source, fine_tune = "decay_triggered", False
                log.warning("model decay detected: training from scratch (%s)", why)
                self.store.update_run(run.id, token, source=source, fine_tune_flag=False)
        data = write_datasets(ds, workdir / "data")
        self.cancel.check()
        summary = data.summary()
        log.info("data: %s", json.dumps(summary))
        if not data.enough:
            reason = (f"only {data.error_count} high-confidence error(s) (confidence > {s.confidence_threshold}) in the last "
                      f"{lookback} day(s); at least {s.min_error_samples} are needed to retrain")
            log.info("skipped: %s", reason)
            return {"status": "skipped", "skip_reason": reason, "dataset_size": data.error_count, "metrics": {"data": summary}, "source": source}
        self.cancel.check()

        champion = self.registry.champion()
        if champion is None and fine_tune:
            log.warning("no champion model yet: training the first model from scratch")
            fine_tune = False
        if champion is not None and fine_tune and not champion.fine_tunable:
            log.warning("champion v%d (%s) cannot be fine-tuned incrementally: training from scratch", champion.version, champion.estimator)
            fine_tune = False
        assert data.dataset_path is not None and data.holdout_path is not None  # written whenever data.enough
        dataset = Path(data.dataset_path)
        if not fine_tune:
            # From scratch learns from every labelled row outside the holdout, not from errors alone.
            if data.full_dataset_path is None:  # the champion changed since the data step
                changed = PipelineError("the champion changed while the data was selected; run the job again")
                changed.retryable = True
                raise changed
            dataset = Path(data.full_dataset_path)
            missing = self._missing_classes(ds.tables["full"])
            if missing:
                # A rare class absent from a recent window is normal: never a failed run.
                why = (f"training from scratch needs every class of model.classes, but the {lookback}-day window has no labelled "
                       f"row of {missing}")
                if champion is not None and champion.fine_tunable:
                    log.warning("%s: fine-tuning champion v%d instead (it keeps the classes it knows)", why, champion.version)
                    fine_tune, dataset = True, Path(data.dataset_path)
                else:
                    reason = f"{why}; a longer --lookback-days window (or retraining.lookback_days) may contain them"
                    log.warning("skipped: %s", reason)
                    return {"status": "skipped", "skip_reason": reason, "dataset_size": data.error_count,
                            "metrics": {"data": summary, "missing_classes": missing}, "source": source}
        job = TrainingJob(dataset=dataset, config=s.config_path.resolve(), fine_tune=fine_tune, output_dir=workdir / "out",
                          learning_rate=s.learning_rate, epochs=s.epochs, holdout=Path(data.holdout_path), random_seed=r.random_seed)
        if champion is not None:  # the orchestrator hands the verified champion over: the trainer never opens the store
            job = TrainingJob(**{**job.__dict__, "model_path": self.registry.fetch(champion), "model_sha256": champion.sha256})
            reference = self._reference_version(champion)
            try:
                if reference is not None:
                    job = TrainingJob(**{**job.__dict__, "reference_path": self.registry.fetch(reference), "reference_sha256": reference.sha256,
                                         "reference_version": reference.version})
            except PipelineError as exc:  # a damaged old version must not stop tonight's run
                log.warning("reference model v%d cannot be used (%s); the gate judges without it", reference.version if reference else -1, describe(exc))
        result = self.trainer(job, r.training_timeout_seconds, self.cancel)
        # Ask the store, not only the heartbeat thread: the run may have been reaped since the
        # last beat, and a fenced-out runner must not register or upload anything.
        if beat.lost.is_set() or not self.store.heartbeat(run.id, token):
            raise LeaseLostError(f"run {run.id} lost its lease during training; its result is discarded")
        metrics = dict(result["metrics"])
        mv = self.registry.add_candidate(
            Path(result["model_path"]), sha256=result["sha256"], sklearn_version=result["sklearn_version"], estimator=result["estimator"],
            fine_tunable=result["fine_tunable"], metrics=metrics, run_id=run.id, parent_version=champion.version if champion else None,
            note=result.get("note"),
        )
        decision = self._decide(metrics)
        current = self.registry.champion()
        if decision.promote and (current.version if current else None) != (champion.version if champion else None):
            # Another runner promoted a model while this one trained: the comparison is stale.
            from ml_pipeline.registry import GateDecision

            decision = GateDecision(False, f"the champion changed during this run (v{champion.version if champion else '-'} -> "
                                    f"v{current.version if current else '-'}); the candidate was compared with a model no longer in service")
        # Re-check the lease right before the promotion: a reaped run must not crown a model.
        if not self.store.heartbeat(run.id, token):
            raise LeaseLostError(f"run {run.id} lost its lease before promotion; v{mv.version} stays a candidate")
        if decision.promote:
            self.registry.promote(mv.version)
            log.info("promoted v%d: %s", mv.version, decision.reason)
        else:
            self.registry.reject(mv.version)
            log.info("rejected v%d: %s; v%s stays in service", mv.version, decision.reason, champion.version if champion else "-")
        gate = self.settings.model.promotion
        metrics.update({
            "promoted": decision.promote, "promotion_reason": decision.reason, "model_version": mv.version,
            "champion_version": mv.version if decision.promote else (champion.version if champion else None),
            "error_count": data.error_count, "replay_size": data.replay_size, "error_counts": data.errors_by_class, "data": summary,
            # The gate this run was judged by: alerts.py and the page judge "worse" with the same rule.
            "gate": {"primary_metric": gate.primary_metric, "min_delta": gate.min_delta, "guard_metrics": dict(gate.guard_metrics),
                     "balanced_guard": dict(gate.balanced_guard), "paired_test": gate.paired_test, "confidence": gate.confidence, "reference_lag": gate.reference_lag,
                     "reference_metric": gate.reference_metric, "reference_tolerance": gate.reference_tolerance},
        })
        return {"status": "completed", "dataset_size": data.error_count, "metrics": metrics, "model_version": mv.version,
                "fine_tune_flag": bool(result["fine_tuned"]), "source": source}

    def _decide(self, metrics: dict[str, Any]) -> GateDecision:
        from ml_pipeline.registry import decide_promotion

        return decide_promotion(
            {k: metrics[k] for k in ("accuracy", "precision", "recall", "f1_score", "balanced_accuracy") if k in metrics},
            metrics.get("baseline"), self.settings.model.promotion,
            holdout_size=int(metrics.get("holdout_size", 0)), evaluated_on=metrics.get("evaluated_on", "holdout"),
            paired=metrics.get("paired"), reference=metrics.get("reference"),
        )

    def _missing_classes(self, full: Any) -> list[str]:
        """Classes of model.classes without a row in the from-scratch training set ``full``
        (the selection's table, labels spelled as in model.classes; not read back from its file)."""
        import pyarrow.compute as pc

        seen = set(pc.unique(full.column("actual_label")).to_pylist())
        return [c for c in self.settings.model.model.classes if c not in seen]

    def _reference_version(self, champion: ModelVersion) -> ModelVersion | None:
        """The gate's fixed reference: the champion of ``reference_lag`` promotions before
        ``champion`` (the first champion while there were fewer); None when that is the
        champion itself or the check is off (``promotion.reference_lag: 0``)."""
        lag = self.settings.model.promotion.reference_lag
        if lag <= 0:
            return None
        crowned = sorted((v for v in self.store.list_model_versions() if v.promoted_at is not None), key=lambda v: (v.promoted_at, v.version))
        order = [v for v in crowned if v.version != champion.version] + [champion]
        ref = order[max(0, len(order) - 1 - lag)]
        return None if ref.version == champion.version else ref

    def _finish(self, run: Run, token: str, final: dict[str, Any], outcome: RunOutcome, *, request_id: str | None, retryable: bool, attempts: int) -> None:
        """Store the log, write the final state (fenced), settle the request."""
        from ml_pipeline.alerts import compute_alerts

        status = final["status"]
        metrics = dict(final.get("metrics") or {})
        key = f"{run.id}.log"
        log_url = None
        try:  # no log upload for a run another runner has reaped meanwhile (fencing)
            if not self.store.heartbeat(run.id, token):
                raise LeaseLostError(f"run {run.id} is no longer held by this runner; nothing was written")
        except LeaseLostError as exc:
            log.error("%s", describe(exc))
            self.lease_lost = True
            outcome.status, outcome.error_message = "lost", describe(exc)
            return
        except PipelineError as exc:  # the store is flaky: the fenced update below decides
            log.warning("lease check before finishing failed: %s", describe(exc))
        try:
            self.store.put_object(BUCKET_TRAINING_LOGS, key, outcome.log_text.encode("utf-8"), "text/plain; charset=utf-8")
            log_url = f"{BUCKET_TRAINING_LOGS}/{key}"
        except PipelineError as exc:
            log.error("could not store the run log: %s", describe(exc))
            if status != "failed":
                metrics["log_error"] = describe(exc)
        a = self.settings.model.alerts
        now = self.clock()
        provisional = replace(run, status=status, dataset_size=int(final.get("dataset_size", 0)), metrics=metrics, created_at=run.created_at or now)
        history = [r for r in self.store.list_runs(limit=200, since=now - timedelta(days=7)) if r.id != run.id]
        metrics["alerts"] = compute_alerts([*history, provisional], now, failures_threshold=a.failures_in_7_days, error_samples_threshold=a.error_samples_in_7_days)
        fields = {k: v for k, v in final.items() if k in ("status", "dataset_size", "error_message", "skip_reason", "model_version", "fine_tune_flag", "source")}
        fields.update(metrics=metrics, completed_at=self.clock(), log_url=log_url)
        try:
            self.store.update_run(run.id, token, **fields)
        except LeaseLostError as exc:
            log.error("%s", describe(exc))
            self.lease_lost = True
            outcome.status, outcome.error_message = "lost", describe(exc)
            return
        outcome.status = status
        outcome.dataset_size = int(final.get("dataset_size", 0))
        outcome.error_message = final.get("error_message")
        outcome.skip_reason = final.get("skip_reason")
        outcome.metrics = metrics
        outcome.log_url = log_url
        if request_id is not None:
            if status in ("completed", "skipped"):
                req_status, err = "completed", None
            elif retryable and attempts < self.settings.model.runner.max_attempts:
                req_status, err = "pending", final.get("error_message")
            else:
                req_status, err = "failed", final.get("error_message")
            try:
                settled = self.store.finish_request(request_id, run.id, req_status, err)
            except PipelineError as exc:  # the run is final; the next reaper settles the request
                log.error("could not settle request %s (%s): %s; the next run's sweep settles it", request_id, req_status, describe(exc))
                return
            if not settled:
                log.warning("request %s was no longer linked to run %s; left as it is", request_id, run.id)
            elif req_status == "pending":
                log.info("request %s re-queued (attempt %d of %d)", request_id, attempts, self.settings.model.runner.max_attempts)

    # ---- housekeeping
    def cleanup_logs(self) -> int:
        """Delete training logs older than ``alerts.log_retention_days``."""
        cutoff = self.clock() - timedelta(days=self.settings.model.alerts.log_retention_days)
        old = [o.name for o in self.store.list_objects(BUCKET_TRAINING_LOGS) if o.updated_at and o.updated_at < cutoff]
        if old:
            self.store.delete_objects(BUCKET_TRAINING_LOGS, old)
            log.info("deleted %d training log(s) older than %d days", len(old), self.settings.model.alerts.log_retention_days)
        return len(old)

    def alerts(self) -> list[dict[str, Any]]:
        """The guide's alerts over the last 7 days of runs."""
        from ml_pipeline.alerts import compute_alerts

        a = self.settings.model.alerts
        now = self.clock()
        runs = self.store.list_runs(limit=500, since=now - timedelta(days=7))
        return compute_alerts(runs, now, failures_threshold=a.failures_in_7_days, error_samples_threshold=a.error_samples_in_7_days)

    def exit_code(self) -> int:
        """0 when every run completed or skipped, 1 otherwise."""
        if self.lease_lost or self.cancel.event.is_set():
            return 1
        return 0 if all(o.status in ("completed", "skipped") for o in self.outcomes) else 1


# --------------------------------------------------------------------------- dry run
def dry_run(settings: Settings, store: Store, as_of: datetime, lookback_days: int | None) -> dict[str, Any]:
    """What a run would do now: counts by class, pending requests, the champion. No writes."""
    from ml_pipeline.data_loader import collect_retraining_data

    data = collect_retraining_data(settings, store, as_of=as_of, lookback_days=lookback_days, workdir=None)
    champion = store.get_champion()
    pending = store.list_requests(status="pending")
    return {
        "dry_run": True,
        "data": data.summary(),
        "would_train": data.error_count >= settings.min_error_samples,
        "training_rows": data.error_count + (data.replay_size if data.error_count >= settings.min_error_samples else 0),
        "champion": None if champion is None else {"version": champion.version, "sha256": champion.sha256, "fine_tunable": champion.fine_tunable},
        "pending_requests": [{"id": r.id, "priority": r.priority, "created_at": r.created_at.isoformat() if r.created_at else None} for r in pending],
    }


# --------------------------------------------------------------------------- one invocation
def run_job(
    settings: Settings,
    store: Store,
    *,
    as_of: datetime,
    source: str = RunSource.AUTO_DAILY,
    request_id: str | None = None,
    requests_only: bool = False,
    lookback_days: int | None = None,
    trainer: TrainerRunner | None = None,
    clock: Clock = utcnow,
    cancellation: Cancellation | None = None,
) -> Job:
    """What one invocation does, for the CLI and :func:`run_auto_reinforcement` alike.

    Reap stale runs; process every pending request (or exactly ``request_id``); then,
    unless ``requests_only`` or ``request_id``, the run of ``source`` (``auto_daily`` at most
    once per UTC day). Returns the :class:`Job` with its outcomes. Signal handlers are
    installed for the duration when called from the main thread, and restored after.
    """
    if source not in RUN_SOURCES:
        raise ConfigError(f"source {source!r} is unknown; use one of {', '.join(RUN_SOURCES)}")
    cancel = cancellation or Cancellation()
    if threading.current_thread() is threading.main_thread():  # Ctrl-C ends the run as failed, not running
        cancel.install()
    job = Job(settings, store, as_of=as_of, trainer=trainer, clock=clock, cancellation=cancel)
    try:
        job.reap()
        job.process_requests(request_id=request_id, lookback_days=lookback_days)
        if not requests_only and request_id is None:
            job.nightly(source, lookback_days=lookback_days)
    except CancelledError as exc:  # stopped between runs: the runs so far are final; exit_code() is 1
        log.error("%s; no further run was started", describe(exc))
    finally:
        cancel.restore()
    return job


# --------------------------------------------------------------------------- guide API
def run_auto_reinforcement(
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    source: str = "auto_daily",
    request_id: str | None = None,
) -> bool:
    """Run the auto reinforcement loop.

    With ``request_id``: process that pending request. Otherwise every pending request, then
    one run of ``source`` (``auto_daily`` runs at most once per UTC day; a second call that
    day runs nothing new and returns True). Returns True when every run ended ``completed``
    or ``skipped``. Uses the configured store (local unless ``SUPABASE_URL`` is set).
    """
    from ml_pipeline.backends import open_store
    from ml_pipeline.config import load_settings

    if source not in RUN_SOURCES:
        raise ConfigError(f"source {source!r} is unknown; use one of {', '.join(RUN_SOURCES)}")
    settings = load_settings({"lookback_days": lookback_days})
    store = open_store(settings)
    try:
        job = run_job(settings, store, as_of=utcnow(), source=source, request_id=request_id, lookback_days=lookback_days)
        return job.exit_code() == 0
    finally:
        store.close()


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """Flags (flag > environment variable > model_config.yaml > default)."""
    p = argparse.ArgumentParser(
        prog="python -m ml_pipeline.auto_reinforcement",
        description="Reap stale runs, process every pending Retrain Now request, then the nightly run "
        "(once per UTC day). Settings resolve flag > environment variable > model_config.yaml > default.",
        epilog="Exit codes: 0 all runs completed or skipped, 1 a run failed or the job was cancelled, 2 configuration error.",
    )
    p.add_argument("--lookback-days", type=int, help="days of evaluation log to use (env ML_PIPELINE_LOOKBACK_DAYS; default 7)")
    p.add_argument("--source", choices=RUN_SOURCES, default=RunSource.AUTO_DAILY.value,
                   help="source of the scheduled run: auto_daily (default; becomes decay_triggered on decay), manual (one extra run now), decay_triggered (from scratch)")
    p.add_argument("--request-id", help="process only this pending request")
    p.add_argument("--requests-only", action="store_true", help="process pending requests only, no nightly run (the frequent pickup)")
    add_common_options(p, as_of=True, log_level=True)
    p.add_argument("--dry-run", action="store_true", help="print counts by class and what would be trained; write nothing")
    p.add_argument("--artifacts-dir", help="write summary.json and logs/<run_id>.log here (for CI artifacts)")
    return p


def _write_artifacts(directory: Path, summary: dict[str, Any], outcomes: list[RunOutcome]) -> None:
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    for o in outcomes:
        (directory / "logs" / f"{o.run_id}.log").write_text(o.log_text, encoding="utf-8")
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")


StoreOpener = Callable[["Settings"], "Store"]


def _record_config_failure(args: argparse.Namespace, exc: PipelineError, open_store: StoreOpener) -> RunOutcome | None:
    """A broken model_config.yaml still leaves a trace: the scheduled run is recorded failed.

    Only possible when the store itself can be opened (its settings come from the
    environment, not from the YAML file). Pending requests stay pending for the next run.
    """
    import uuid

    try:
        settings = settings_from(args, skip_model=True)
        store = open_store(settings)
        as_of = parse_as_of(args.as_of)
    except PipelineError:
        return None
    token = str(uuid.uuid4())
    try:
        run = store.create_run(source=args.source, as_of=as_of, lease_token=token,
                               runner=f"{socket.gethostname()}:{os.getpid()}", fine_tune_flag=args.source != RunSource.DECAY_TRIGGERED)
        store.update_run(run.id, token, status=RunStatus.FAILED, error_message=describe(exc), completed_at=utcnow())
        return RunOutcome(run.id, run.source, RunStatus.FAILED, error_message=describe(exc))
    except PipelineError:  # the day's run exists already, or the store refused: the exit code says enough
        return None
    finally:
        store.close()


def main(argv: list[str] | None = None, *, open_store: StoreOpener | None = None, trainer: TrainerRunner | None = None) -> int:
    """Entry point of ``python -m ml_pipeline.auto_reinforcement``.

    ``open_store`` and ``trainer`` default to the real ones; the reliability tests' runner
    passes its own (tests/reliability/runner_shim.py).
    """
    args = build_parser().parse_args(argv)
    if open_store is None:
        from ml_pipeline.backends import open_store as default_opener

        open_store = default_opener
    opener: StoreOpener = open_store
    started = utcnow()
    summary: dict[str, Any] = {"started_at": started.isoformat(), "backend": None, "runs": [], "alerts": []}
    try:
        settings = settings_from(args, lookback_days=args.lookback_days)
        setup_logging(settings.log_level)
        as_of = parse_as_of(args.as_of)
        summary["backend"] = settings.resolved_backend
        store = opener(settings)
    except PipelineError as exc:
        code = report_error(exc)
        recorded = None if args.dry_run or args.requests_only else _record_config_failure(args, exc, opener)
        summary.update(finished_at=utcnow().isoformat(), exit_code=code, error=describe(exc))
        if recorded is not None:
            summary["runs"] = [recorded.as_dict()]
        if args.artifacts_dir:
            _write_artifacts(Path(args.artifacts_dir), summary, [recorded] if recorded else [])
        return code
    job: Job | None = None
    code = 1

    def body() -> int:
        nonlocal job
        if args.dry_run:
            print(json.dumps(dry_run(settings, store, as_of, args.lookback_days), indent=2))
            return 0
        job = run_job(settings, store, as_of=as_of, source=args.source, request_id=args.request_id, requests_only=args.requests_only,
                      lookback_days=args.lookback_days, trainer=trainer)
        for o in job.outcomes:
            print(o.line())
        if not job.outcomes:
            print("nothing to do: no pending request and the nightly run already exists for this day" if not args.requests_only else "no pending request")
        result = job.exit_code()
        try:  # housekeeping must not hide the runs' results or change the exit code
            job.cleanup_logs()
            alerts = job.alerts()
        except PipelineError as exc:
            log.warning("housekeeping (log retention, alerts) failed: %s", describe(exc))
            alerts = []
        summary["alerts"] = alerts
        for a in alerts:
            print(f"ALERT {a['code']}: {a['message']}")
        return result

    try:
        code = run_main(body)
    finally:
        if job is not None:
            summary["runs"] = [o.as_dict() for o in job.outcomes]
        summary.update(finished_at=utcnow().isoformat(), exit_code=code)
        if args.artifacts_dir:
            _write_artifacts(Path(args.artifacts_dir), summary, job.outcomes if job else [])
        store.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
