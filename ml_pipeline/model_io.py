"""Model files: skops format with trusted types only, never pickles.

A pickle (joblib) file runs code of its author's choosing when loaded, so a model file
changed in the bucket or handed over by mistake could take over the runner. skops stores
the same estimators without pickle and loads only types it knows to be safe
(scikit-learn's estimators, numpy arrays, builtins) plus the ones in
:data:`EXTRA_TRUSTED_TYPES`; anything else is refused before it is built. There is no
``trusted=True`` anywhere.

Functions:

* :func:`dump` / :func:`dumps`: write a model (``dump`` atomically, to a temp file first).
* :func:`loads`: build a model from bytes; a pickle is refused with the conversion command.
* :func:`load_verified`: read a file ONCE, check its sha256, build the model from those
  same bytes (no window between the check and the load).
* :func:`inspect_in_subprocess`: describe a model (estimator, classes, partial_fit) by
  loading it in a child process whose environment holds no secrets (used by
  ``registry register``).

CLI (one-time conversion of an existing joblib champion, docs/model-files.md)::

    python -m ml_pipeline.model_io convert OLD.joblib NEW.skops
    python -m ml_pipeline.registry register NEW.skops --note "converted from joblib"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_pipeline.checksums import sha256_bytes
from ml_pipeline.errors import ConfigError, IntegrityError, PipelineError

# Types trusted on top of skops's own safe set. Add one only after reading its code: its
# constructor and __setstate__ run while loading.
#
# numpy.dtype: the default pipeline's SimpleImputer keeps the dtype it was fitted on
# (``_fit_dtype``, ``_fill_dtype``), and skops 0.13 does not trust dtype objects by default.
# Read in skops/io/_numpy.py: skops writes a dtype as an EMPTY array of that dtype and its
# DTypeNode builds it as ``<child array>.dtype``; the child is an ordinary NdArrayNode,
# audited on its own, that numpy builds with ``np.load(..., allow_pickle=False)`` (the .npy
# header is parsed with ast.literal_eval; object dtypes are refused) or from a JSON list.
# Whatever loader a file names for a "numpy.dtype" node, what runs is numpy's own dtype
# code on values (str, tuples, numbers) or on children that are themselves checked against
# this list: ``np.dtype(...)``, ``np.dtype.__new__`` + ``__setstate__`` (numpy's C code,
# which validates its tuple) or, as a FunctionNode, the class object itself. No callable
# or module of the file's choosing is imported or run. Trusting exactly this one name does
# not trust anything else: ml_pipeline/tests/test_model_io.py shows a file naming another type refused.
EXTRA_TRUSTED_TYPES: tuple[str, ...] = ("numpy.dtype",)

CONVERT_HINT = (
    "convert it once with `python -m ml_pipeline.model_io convert OLD NEW.skops` on a machine you "
    "trust, then `python -m ml_pipeline.registry register NEW.skops` (docs/model-files.md)"
)
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL_OPCODE = b"\x80"


def dumps(model: Any) -> bytes:
    """The skops bytes of ``model``, the same bytes for the same model in any process.

    skops names its array files and ``__id__`` fields after ``id()`` of the objects and
    stamps the zip entries with the current time, so two processes writing the same model
    would write different bytes (and sha256). Those are renumbered in order of appearance
    and the time is fixed, which keeps runs with the same inputs reproducible.
    """
    import skops.io as sio

    return _canonical(bytes(sio.dumps(model)))


_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _canonical(data: bytes) -> bytes:
    import io
    import re
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = json.loads(src.read("schema.json"))
        numbers: dict[int, int] = {}

        def renumber(value: int) -> int:
            return numbers.setdefault(value, len(numbers) + 1)

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                out: dict[str, Any] = {}
                for key, value in node.items():
                    if key == "__id__" and isinstance(value, int):
                        out[key] = renumber(value)
                    elif isinstance(value, str) and re.fullmatch(r"\d+\.npy", value):
                        out[key] = f"{renumber(int(value[:-4]))}.npy"
                    else:
                        out[key] = walk(value)
                return out
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        canonical_schema = walk(schema)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                name = info.filename
                if name == "schema.json":
                    content = json.dumps(canonical_schema, indent=2).encode()
                else:
                    content = src.read(name)
                    if re.fullmatch(r"\d+\.npy", name):
                        name = f"{renumber(int(name[:-4]))}.npy"
                entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                entry.compress_type = info.compress_type
                entry.external_attr = info.external_attr
                dst.writestr(entry, content)
    return out.getvalue()


def dump(model: Any, path: Path) -> None:
    """Write ``model`` to ``path`` in skops format, atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(dumps(model))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def loads(data: bytes, *, source: str) -> Any:
    """Build the model held in skops bytes ``data`` (``source`` names it in errors).

    Raises ConfigError for a pickle/joblib file (with the conversion command) or bytes
    that are no model file, IntegrityError when the file holds types that are not trusted.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if not data.startswith(_ZIP_MAGIC):
        if data.startswith(_PICKLE_PROTOCOL_OPCODE):
            raise ConfigError(f"model {source} is a joblib/pickle file, which is no longer loaded (a pickle can run code); {CONVERT_HINT}")
        raise ConfigError(f"model {source} is not a skops model file (it does not start like one); {CONVERT_HINT}")
    try:
        untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(EXTRA_TRUSTED_TYPES))
    except Exception as exc:  # a damaged archive: skops raises zipfile/json/key errors
        raise ConfigError(f"model {source} cannot be read as a skops file: {type(exc).__name__}: {exc}") from exc
    if untrusted:
        raise IntegrityError(
            f"model {source} contains types that are not trusted: {', '.join(untrusted[:5])}"
            f"{' ...' if len(untrusted) > 5 else ''}; refusing to load it. If you wrote that model and reviewed "
            "those classes, add them to EXTRA_TRUSTED_TYPES in ml_pipeline/model_io.py"
        )
    try:
        return sio.loads(data, trusted=list(EXTRA_TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:  # pragma: no cover - checked just above
        raise IntegrityError(f"model {source}: {exc}") from exc


def load_verified(path: Path, expected_sha256: str | None) -> Any:
    """Read ``path`` once; if ``expected_sha256`` is given, check it; load those bytes.

    Raises ConfigError when the file is missing, IntegrityError when the sha256 differs.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file '{path}' not found")
    data = path.read_bytes()
    if expected_sha256:
        actual = sha256_bytes(data)
        if actual != expected_sha256.lower():
            raise IntegrityError(
                f"model file '{path}' has sha256 {actual}, expected {expected_sha256}; it was "
                "changed or damaged after it was recorded: refusing to load it"
            )
    return loads(data, source=f"'{path}'")


@dataclass(frozen=True)
class ModelInfo:
    """What ``registry register`` needs to know about a model file."""

    estimator: str
    classes: list[str]
    fine_tunable: bool
    has_predict: bool


# Only what Python needs to start: no SUPABASE_* keys, tokens or other secrets.
_CHILD_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")


def child_environment() -> dict[str, str]:
    """The environment of the inspecting child: the few variables Python needs, nothing else."""
    env = {k: os.environ[k] for k in _CHILD_ENV_KEEP if k in os.environ}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def inspect_in_subprocess(data: bytes, *, source: str, timeout: float = 120) -> ModelInfo:
    """Load ``data`` in a child process without secrets and describe the model.

    Raises the same errors as :func:`loads` (re-created from the child's report), or
    PipelineError if the child dies or times out.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ml_pipeline.model_io", "inspect", "--source", source],
            input=data, capture_output=True, env=child_environment(), timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PipelineError(f"inspecting model {source} took more than {timeout:g} s; refusing it") from exc
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        report = {}
    if proc.returncode == 0 and "estimator" in report:
        return ModelInfo(report["estimator"], [str(c) for c in report["classes"]], bool(report["fine_tunable"]), bool(report["has_predict"]))
    if report.get("error"):
        kind = {"ConfigError": ConfigError, "IntegrityError": IntegrityError}.get(report.get("kind", ""), PipelineError)
        raise kind(report["error"])
    tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    raise PipelineError(f"inspecting model {source} failed (exit {proc.returncode}): {tail[0]}")


def _describe(model: Any) -> dict[str, Any]:
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    return {
        "estimator": type(final).__name__,
        "classes": [str(c) for c in getattr(final, "classes_", [])],
        "fine_tunable": hasattr(final, "partial_fit"),
        "has_predict": hasattr(model, "predict"),
    }


def convert(src: Path, dest: Path) -> str:
    """Unpickle the joblib file ``src`` (ONCE, on purpose) and write it to ``dest`` as skops.

    Returns the sha256 of ``dest``. Refuses a ``dest`` that exists, and checks that the
    written file loads with trusted types only.
    """
    import joblib

    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise ConfigError(f"model file '{src}' not found")
    if dest.exists():
        raise ConfigError(f"'{dest}' exists; choose a new file name for the converted model")
    model = joblib.load(src)  # the operator's own file, converted on purpose (see module doc)
    dump(model, dest)
    data = dest.read_bytes()
    loads(data, source=f"'{dest}'")
    return sha256_bytes(data)


def main(argv: list[str] | None = None) -> int:
    """``python -m ml_pipeline.model_io convert SRC DEST`` (and ``inspect``, used internally)."""
    import argparse

    from ml_pipeline.errors import describe

    parser = argparse.ArgumentParser(prog="python -m ml_pipeline.model_io", description="Model files in skops format.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert a joblib/pickle model you trust to skops (one time)")
    conv.add_argument("src", help="existing .joblib/.pkl file: it is unpickled, so only files you made")
    conv.add_argument("dest", help="new .skops file to write")
    insp = sub.add_parser("inspect", help="(internal) describe the skops model read from stdin as JSON")
    insp.add_argument("--source", default="<stdin>")
    args = parser.parse_args(argv)

    if args.command == "inspect":
        try:
            model = loads(sys.stdin.buffer.read(), source=args.source)
        except PipelineError as exc:
            print(json.dumps({"error": describe(exc), "kind": type(exc).__name__}))
            return exc.exit_code
        print(json.dumps(_describe(model)))
        return 0
    try:
        digest = convert(Path(args.src), Path(args.dest))
    except PipelineError as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {args.dest} (skops), sha256 {digest}; register it with "
          f"`python -m ml_pipeline.registry register {args.dest}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
