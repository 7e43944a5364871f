"""Loading a rule table file: parse, validate, compile, and report errors by line.

This is what the CLI and the server call; both show an author the file, the line and
the field of every error at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..compiler import CompiledTable, compile_table, content_version
from ..gc_pause import gc_paused
from ..model import RuleTable
from .checks.common import RuleTableError
from .source import (
    NESTED,
    SourceError,
    line_finder,
    looks_like_json,
    nested_deeper,
    parse_noting_repeats,
    read_bytes,
    repeated_keys,
)
from .validate import build_table


@dataclass(frozen=True)
class Problem:
    """One error in a rule table: where (path, line) and why."""

    place: str
    line: int | None
    message: str

    def render(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        return f"{where}: {self.place}: {self.message}" if self.place else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"place": self.place, "line": self.line, "message": self.message}


class RulesInvalid(ValueError):
    """The table cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list):
        self.problems = problems
        super().__init__("; ".join(p.render("rules") for p in problems))


def check_source(raw: bytes) -> RuleTable:
    """Validate a rule table's text; raise RulesInvalid with every problem and its line."""
    try:
        data, written_twice = parse_noting_repeats(raw)
    except SourceError as exc:
        raise RulesInvalid([Problem("", exc.line, exc.message)]) from None
    repeated = [
        Problem(
            f"points.events.{kind}",
            line,
            f"event kind {kind!r} is named twice" + (f" (first on line {first})" if first else ""),
        )
        for kind, line, first in repeated_keys(raw, ("points", "events"), data)
    ]
    said = {p.line for p in repeated}
    repeated += [
        Problem(str(key), line, f"written twice in one mapping (first on line {first}); YAML would keep only the last")
        for key, line, first in written_twice
        if line not in said
    ]
    try:
        table = build_table(data)
    except RecursionError:  # JSON nested thousands deep inside a field, whose error message would show it
        raise RulesInvalid([Problem("", None, NESTED)]) from None
    except RuleTableError as exc:
        if isinstance(data, (dict, list)) and looks_like_json(raw) and nested_deeper(data):  # YAML: refused in parse
            raise RulesInvalid([Problem("", None, NESTED)]) from None
        find_line = line_finder(raw)
        problems = [Problem(e.place, find_line(e.path), e.message) for e in exc.errors]
        raise RulesInvalid(by_line(repeated + problems)) from None
    if repeated:
        raise RulesInvalid(repeated)
    return table


def by_line(problems: list[Problem]) -> list[Problem]:
    """Problems in the order an author reads the file: those of the whole file (no line)
    first, then by line; those of one line in the order they were found."""
    return sorted(problems, key=lambda problem: (problem.line is not None, problem.line or 0))


def compile_source(raw: bytes, label: str = "") -> CompiledTable:
    """Validate and compile. The version is `label@hash`: the label given (e.g. by the
    author pushing it), else the table's `name`; the hash is of the source's bytes."""
    with gc_paused():  # parsing a large table makes millions of objects that all live on
        model = check_source(raw)
        return compile_table(model, f"{label or model.name}@{content_version(raw)}")


def load_file(path: str | Path) -> CompiledTable:
    try:
        raw = read_bytes(path)
    except SourceError as exc:
        raise RulesInvalid([Problem("", None, exc.message)]) from None
    return compile_source(raw)
