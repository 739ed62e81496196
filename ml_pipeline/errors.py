"""Exceptions of ml_pipeline: one root, small subclasses.

Every message says what was wrong, where, and how to fix it. Entry points
(`main()` of each CLI) are the only places that catch these; they print the
chain of causes and choose the exit code from :attr:`PipelineError.exit_code`.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error ml_pipeline raises on purpose.

    ``retryable`` tells the orchestrator whether running the same request
    again could succeed (a lost runner may; a malformed log will not).
    """

    exit_code = 1
    retryable = False


class ConfigError(PipelineError):
    """Invalid settings, model_config.yaml or missing environment variables."""

    exit_code = 2


class EvaluationLogError(PipelineError):
    """The evaluation log is missing, unreadable or breaks its contract."""

    exit_code = 2


class TrainingError(PipelineError):
    """Training or evaluating a model failed, or the trainer's output is unusable."""


class StoreError(PipelineError):
    """A backend (SQLite, Postgres/PostgREST, Storage) refused or failed an operation."""

    retryable = True


class StoreUsageError(StoreError):
    """The caller asked the store for something it never accepts (an unknown source, column,
    status or a malformed id): a bug or a wrong argument to fix, so running again cannot help."""

    retryable = False


class StoreUnavailableError(StoreError):
    """The backend cannot be reached at all (wrong URL, network down)."""

    exit_code = 2


class DailyRunExistsError(StoreError):
    """The nightly run for this UTC day already exists (once-a-day guard)."""

    retryable = False


class LeaseLostError(StoreError):
    """This runner's lease was taken over (its run was reaped as stale).

    Whatever the runner does next must not be written: the fencing token no
    longer matches.
    """

    retryable = False


class IntegrityError(PipelineError):
    """A model artifact does not match the checksum recorded for it."""


class CancelledError(PipelineError):
    """The job was asked to stop (SIGINT/SIGTERM) while a run was in progress."""

    retryable = True


def describe(exc: BaseException) -> str:
    """Return ``exc`` and its causes as one line: ``outer: cause: root``."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        text = str(cur).strip() or type(cur).__name__
        if not parts or text not in parts[-1]:
            parts.append(text)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return ": ".join(parts)
