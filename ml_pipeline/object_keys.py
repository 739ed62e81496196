"""Object keys that cannot leave their bucket, on every store (issue 11 item 7).

Both stores call :func:`refuse_unsafe_key` through ``store.check_object_key`` at each
entry point (put, get, download, delete). Refused, with the reason:

* ``%``: Supabase Storage decodes percent-escapes, so ``%2e%2e/`` would become ``../``
  after our check; the local store would keep it literally. Either way the two stores
  would disagree about which object a key names.
* ``.`` or ``..`` as any segment, a leading ``/``, an empty segment (``a//b``) and ``\\``
  (a separator on Windows): path traversal in the local store, ambiguous names remotely.
* control characters (U+0000-U+001F, U+007F): they end up in file names, logs and URLs.
"""

from __future__ import annotations

from ml_pipeline.errors import ConfigError

_EXAMPLE = "e.g. 'daily/2026-11-26.csv' or 'v3/model.joblib'"


def key_problem(key: str) -> str | None:
    """Why ``key`` is refused, in words, or None if it is a plain relative path."""
    if not key:
        return "it is empty"
    if "%" in key:
        return "it contains '%' (percent-escapes such as %2e%2e are decoded by Supabase Storage into '..')"
    if "\\" in key:
        return "it contains a backslash"
    control = next((c for c in key if ord(c) < 32 or ord(c) == 127), None)
    if control is not None:
        return f"it contains the control character U+{ord(control):04X}"
    if key.startswith("/"):
        return "it starts with '/'"
    segments = key.split("/")
    if any(s in (".", "..") for s in segments):
        return "it has a '.' or '..' segment"
    if any(s == "" for s in segments[:-1]):
        return "it has an empty segment ('//')"
    return None


def refuse_unsafe_key(bucket: str, key: str) -> str:
    """Return ``key`` if it is safe in ``bucket``; else raise ConfigError saying why and what is allowed."""
    problem = key_problem(key)
    if problem is not None:
        shown = key if len(key) <= 120 else key[:117] + "..."
        raise ConfigError(
            f"object key {shown!r} in bucket {bucket!r} is refused: {problem}; use a plain relative path "
            f"of names separated by '/' ({_EXAMPLE})"
        )
    return key
