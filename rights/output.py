"""How every command answers: JSON on stdout, a refusal as one line on stderr, a long job's
progress as a bar on stderr when it is a terminal."""

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


def refused_row(path: str, line: int, field: str | None, reason: str) -> None:
    """A refused input row, as FILE:LINE: field: reason on stderr, on a line of its own above
    a progress bar if one is drawn."""
    from tqdm import tqdm

    place = f"{field}: " if field else ""
    tqdm.write(f"{path}:{line}: {place}{reason}", file=sys.stderr)


def progress_bar(total: int, unit: str, **options: Any) -> Any:
    """A tqdm bar on stderr, drawn only when stderr is a terminal: silent in a pipe, a log or CI.
    Use it as a context manager; `update(n)` moves it, `write(text)` prints above it."""
    from tqdm import tqdm

    return tqdm(total=total, unit=f" {unit}", file=sys.stderr, disable=None, **options)


def counted(n: int, word: str) -> str:
    """`1 row`, `2 rows`."""
    return f"{n} {word}{'s' if n != 1 else ''}"
