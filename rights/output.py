"""How every command answers: JSON on stdout, a refusal as one line on stderr."""

from __future__ import annotations

import sys
from typing import Any

import orjson


def print_json(data: Any, compact: bool = False) -> None:
    option = orjson.OPT_NON_STR_KEYS | (0 if compact else orjson.OPT_INDENT_2)
    sys.stdout.write(orjson.dumps(data, option=option).decode() + "\n")


def fail(message: str, code: int = 1) -> int:
    """Say why on stderr; the exit code to return."""
    print(f"rights: {message}", file=sys.stderr)
    return code


def refused_row(path: str, line: int, field: str | None, reason: str, lead: str = "") -> None:
    """A refused input row, as FILE:LINE: field: reason on stderr (`lead` clears a progress bar)."""
    place = f"{field}: " if field else ""
    print(f"{lead}{path}:{line}: {place}{reason}", file=sys.stderr)


def counted(n: int, word: str) -> str:
    """`1 row`, `2 rows`."""
    return f"{n} {word}{'s' if n != 1 else ''}"
