"""What every section's checks share: the error types, the path of a field, the id and
offset patterns, and a Checker that collects errors while it reads scalar fields.

A section's checks take the Checker and report into it, so one pass over a table gives
an author every error at once, each with the path of the field it concerns.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ...model import MAX_MULTIPLIER_PERCENT, MAX_PRICE_FEN

MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_MEMBER_LIMIT = 1_000_000  # uses per member of a product, coupon or redemption
MAX_STOCK = 1_000_000_000  # uses in all of a coupon or redemption
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
UTC_OFFSET_RE = re.compile(r"^([+-])(0\d|1[0-4]):([0-5]\d)\Z")
RELATIVE_TIME_RE = re.compile(r"^(room_start|room_end)\s*(?:([+-])\s*((?:\d+[dhms])+))?\Z")

MISSING = object()  # a field left out, as opposed to one written as null


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `choices` to a misspelt `word`, else ''."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class RuleError:
    path: tuple
    message: str

    @property
    def place(self) -> str:
        return format_path(self.path)

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.path else self.message


class RuleTableError(ValueError):
    """The table has errors; `errors` lists all of them."""

    def __init__(self, errors: list):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def format_path(path: tuple) -> str:
    """("coupons", 3, "window") as an author reads it: coupons[3].window."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Checker:
    """The errors found so far, what later sections need from earlier ones, and the checks
    of single fields. A field's check reports an error and returns None (or the default)."""

    def __init__(self) -> None:
        self.errors: list = []
        self.utc_offset = 8 * 3600  # the table's timezone, once read: naive times are in it
        self.declared_skus: set = set()  # every sku written, valid product or not
        self.segment_tags: dict = {}  # every tag a segment names -> the place it is first written

    def error(self, path: tuple, message: str) -> None:
        self.errors.append(RuleError(tuple(path), message))

    def mapping(self, obj: Any, path: tuple, allowed: tuple, required: tuple = ()) -> dict | None:
        if not isinstance(obj, dict):
            self.error(path, "must be a mapping of fields")
            return None
        for key in obj:
            if key not in allowed:
                self.error(
                    path + (key,), f"unknown field{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}"
                )
        for key in required:
            if key not in obj:
                self.error(path + (key,), "is required")
        return obj

    def absent(self, path: tuple, key: str, default: Any) -> Any:
        """A field left out: its default, or an error when it has none."""
        if default is MISSING:
            self.error(path + (key,), "is required")
            return None
        return default

    def keyed(self, obj: dict, path: tuple, key: str, what: str) -> dict:
        """A field that maps ids to values (an empty map after an error)."""
        raw = obj[key]
        if not isinstance(raw, dict):
            self.error(path + (key,), f"must map {what}")
            return {}
        return raw

    def integer(
        self, obj: dict, path: tuple, key: str, lo: int, hi: int, default: Any = MISSING, what: str = "a whole number"
    ) -> Any:
        value = obj.get(key, MISSING)
        if value is MISSING:
            return self.absent(path, key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and "fen" in what:
                self.error(
                    path + (key,), f"must be {what}; money is written in fen (1990 for 19.90 yuan), not as a decimal"
                )
            else:
                self.error(path + (key,), f"must be {what}, not {value!r}")
            return None
        if not lo <= value <= hi:
            self.error(path + (key,), f"must be between {lo} and {hi}, not {value}")
            return None
        return value

    def fen(self, obj: dict, path: tuple, key: str, default: Any = MISSING, lo: int = 0) -> Any:
        return self.integer(obj, path, key, lo, MAX_PRICE_FEN, default, what="a whole number of fen")

    def member_limit(self, obj: dict, path: tuple) -> int | None:
        """The optional `member_limit`: at most this many per member, no limit when left out."""
        return self.integer(obj, path, "member_limit", 1, MAX_MEMBER_LIMIT, default=None)

    def stock(self, obj: dict, path: tuple) -> int | None:
        """The optional `stock`: this many in all, no limit when left out."""
        return self.integer(obj, path, "stock", 0, MAX_STOCK, default=None)

    def text(self, obj: dict, path: tuple, key: str, default: Any = MISSING, limit: int = MAX_NAME_LENGTH) -> Any:
        value = obj.get(key, MISSING)
        if value is MISSING:
            return self.absent(path, key, default)
        if not isinstance(value, str):
            self.error(path + (key,), f"must be text, not {value!r}")
            return None
        if len(value) > limit:
            self.error(path + (key,), f"is longer than {limit} characters")
            return None
        return value

    def ident(self, obj: dict, path: tuple, key: str, default: Any = MISSING) -> Any:
        value = obj.get(key, MISSING)
        if value is MISSING and default is not MISSING:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # sku 1001 written without quotes
            obj = {**obj, key: value}
        value = self.text(obj, path, key, limit=MAX_ID_LENGTH)
        if value is not None and not ID_RE.match(value):
            self.error(path + (key,), "must start with a letter or digit and use only letters, digits and _ . : -")
            return None
        return value

    def flag(self, obj: dict, path: tuple, key: str, default: bool) -> bool:
        value = obj.get(key, default)
        if not isinstance(value, bool):
            self.error(path + (key,), f"must be true or false, not {value!r}")
            return default
        return value

    def multiplier(self, obj: dict, path: tuple, key: str, default: int) -> int:
        value = obj.get(key, MISSING)
        if value is MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.error(path + (key,), f"must be a number such as 1.5, not {value!r}")
            return default
        try:
            percent = Decimal(str(value)) * 100
        except InvalidOperation:
            self.error(path + (key,), f"must be a number such as 1.5, not {value!r}")
            return default
        if not percent.is_finite():
            self.error(path + (key,), f"must be a number such as 1.5, not {value!r}")
            return default
        if percent != percent.to_integral_value():
            self.error(path + (key,), "may have at most two decimal places")
            return default
        if not 1 <= percent <= MAX_MULTIPLIER_PERCENT:
            self.error(path + (key,), f"must be between 0.01 and {MAX_MULTIPLIER_PERCENT // 100}")
            return default
        return int(percent)

    def entries(self, top: dict, section: str, allowed: tuple, required: tuple) -> Iterator[tuple[int, tuple, dict]]:
        """(index, path, fields) of each entry of a section's list that is a mapping of
        `allowed` fields; the others are reported and skipped."""
        for index, item in enumerate(self.items(top, (), section)):
            path = (section, index)
            obj = self.mapping(item, path, allowed, required)
            if obj is not None:
                yield index, path, obj

    def items(self, obj: Any, path: tuple, key: str, required: bool = False) -> list:
        value = obj.get(key, MISSING) if isinstance(obj, dict) else MISSING
        if value is MISSING or value is None:
            if required:
                self.error(path + (key,), "is required")
            return []
        if not isinstance(value, list):
            self.error(path + (key,), "must be a list")
            return []
        return value

    def unique(self, ids: list, path: tuple, field: str) -> None:
        seen: dict = {}
        for index, ident in ids:
            if ident is None:
                continue
            if ident in seen:
                self.error(
                    path + (index, field), f"{ident!r} is used twice (also at {format_path(path + (seen[ident],))})"
                )
            else:
                seen[ident] = index
