"""The champion of the configured store as a verified local file, for the standalone trainer.

``python ml_pipeline/train_model.py --fine_tune true`` without ``--model_path`` (the guide's
manual command) needs the model in service. train_model.py never imports the store, so it
runs this module in a child process::

    python -m ml_pipeline.champion [--backend B] [--config PATH] [--json]

which downloads the champion into ``ML_PIPELINE_HOME/cache`` (sha256-checked against the
database) and prints its path, sha256 and version; with ``--json`` as one JSON line (on
failure ``{"error": ..., "exit_code": ...}``). The job itself never needs this: it fetches
the champion through its registry and passes ``--model_path`` and ``--model_sha256``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.cli import add_common_options, run_main, settings_from
from ml_pipeline.errors import ConfigError, describe

if TYPE_CHECKING:
    from ml_pipeline.config import Settings


def fetch_champion(settings: Settings) -> tuple[Path, str, int]:
    """(local path, sha256, version) of the champion; ``ConfigError`` when there is none."""
    from ml_pipeline.backends import open_store
    from ml_pipeline.registry import Registry

    store = open_store(settings)
    try:
        registry = Registry(store, settings.home / "cache")
        champion = registry.champion()
        if champion is None:
            raise ConfigError(
                "no current model to fine-tune: the store has no champion; pass --model_path, "
                "register one with `python -m ml_pipeline.registry register PATH`, or use --fine_tune false"
            )
        return registry.fetch(champion), champion.sha256, champion.version
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ml_pipeline.champion``."""
    parser = argparse.ArgumentParser(prog="python -m ml_pipeline.champion", description="Download the champion model (sha256-verified) and print where it is.")
    add_common_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON line: path, sha256, version")
    args = parser.parse_args(argv)

    def body() -> int:
        path, sha256, version = fetch_champion(settings_from(args))
        print(json.dumps({"path": str(path), "sha256": sha256, "version": version}) if args.json else f"v{version} {sha256} {path}")
        return 0

    def on_error(exc: BaseException, code: int) -> None:
        print(f"error: {describe(exc)}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": describe(exc), "exit_code": code}))

    return run_main(body, on_error=on_error)


if __name__ == "__main__":
    raise SystemExit(main())
