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
