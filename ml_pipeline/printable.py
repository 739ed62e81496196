"""Show text typed by users on a terminal without letting it drive the terminal.

A request's reason comes from any signed-in user; printed raw, an escape sequence in it
(ESC [ ... ) could rewrite what an operator sees, hide lines or set the window title.
"""

from __future__ import annotations

import unicodedata


def escape_control(text: str | None) -> str:
    """``text`` with control and format characters shown as escapes (``\\x1b``, ``\\n``, ``\\u202e``).

    Everything else, including non-ASCII letters, is kept. None becomes "".
    """
    if not text:
        return ""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
