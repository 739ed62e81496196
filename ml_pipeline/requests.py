"""Manual retraining requests without the web page.

::

    python -m ml_pipeline.requests create [--reason TEXT] [--priority low|normal|high] [--requested-by UUID]
    python -m ml_pipeline.requests list [--status pending] [--json]
    python -m ml_pipeline.requests cancel ID

``--requested-by`` defaults to ``ML_PIPELINE_USER_ID`` or a stable id derived from the
operating-system user name, so one operator has at most one pending request, like a
signed-in user of the Monitoring page.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import uuid

from ml_pipeline.cli import add_common_options, run_main, settings_from
from ml_pipeline.printable import escape_control
from ml_pipeline.records import PRIORITIES, REQUEST_STATUSES, Request


def default_requester() -> str:
    """``ML_PIPELINE_USER_ID`` or a UUID derived from the OS user name."""
    explicit = os.environ.get("ML_PIPELINE_USER_ID", "").strip()
    if explicit:
        return explicit
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "operator"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ml_pipeline:user:{login}"))


def _row(r: Request) -> str:
    created = r.created_at.strftime("%Y-%m-%d %H:%M:%S") if r.created_at else "?"
    tail = f"  run {r.retraining_run_id}" if r.retraining_run_id else ""
    err = f"  last error: {escape_control(r.last_error)}" if r.last_error else ""
    return f"{r.id}  {r.status:<10} {r.priority:<6} {created}  attempts {r.attempts}  {escape_control(r.reason)}{tail}{err}".rstrip()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ml_pipeline.requests``."""
    parser = argparse.ArgumentParser(prog="python -m ml_pipeline.requests", description="Queue, list and cancel retraining requests.")
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="queue a request (picked up by the next job)")
    c.add_argument("--reason", help="why (at most 500 characters)")
    c.add_argument("--priority", choices=PRIORITIES, default="normal")
    c.add_argument("--requested-by", help="user id (UUID); default ML_PIPELINE_USER_ID or one derived from your login")
    ls = sub.add_parser("list", help="requests in processing order")
    ls.add_argument("--status", choices=REQUEST_STATUSES)
    ls.add_argument("--json", action="store_true")
    cancel = sub.add_parser("cancel", help="cancel a pending request")
    cancel.add_argument("id")
    args = parser.parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from ml_pipeline.backends import open_store

    store = open_store(settings_from(args))
    try:
        if args.command == "create":
            r = store.create_request(args.requested_by or default_requester(), args.reason, args.priority)
            print(f"queued request {r.id} ({r.priority}); the next run of the job processes it")
        elif args.command == "list":
            rows = store.list_requests(status=args.status)
            if args.json:
                print(json.dumps([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.__dict__.items()} for r in rows]))
            elif not rows:
                print("no requests")
            else:
                for r in rows:
                    print(_row(r))
        else:
            r = store.cancel_request(args.id)
            print(f"cancelled request {r.id}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
