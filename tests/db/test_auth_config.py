"""supabase/config.toml: invite-only auth (issue 11 item 1); no database needed."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "supabase" / "config.toml"


def test_sign_ups_and_anonymous_sign_ins_are_off() -> None:
    auth = tomllib.loads(CONFIG.read_text())["auth"]
    assert auth["enable_signup"] is False
    assert auth["email"]["enable_signup"] is False
    assert auth["enable_anonymous_sign_ins"] is False
