"""The compiled evaluator's Python face (ext/evaluator.pyx): the same contract as
engine.reference.quote, returning a Quote held as C arrays."""

from collections.abc import Sequence

from engine.compiler import CompiledTable
from engine.model import Member, Stock
from engine.quote import RawQuote

NAME: str
DEBUG_CHECKS: bool

class TableView:
    """C pointers into one CompiledTable's arrays, built once per table and cached on it."""

    def __init__(self, compiled: CompiledTable) -> None: ...

class Quote:
    """One decided quote; built only by quote()."""

    @property
    def table(self) -> CompiledTable: ...
    @property
    def run_ns(self) -> int: ...
    @property
    def payable(self) -> int: ...
    @property
    def subtotal(self) -> int: ...
    @property
    def discount(self) -> int: ...
    @property
    def points(self) -> int: ...
    @property
    def combinations(self) -> int: ...
    def applied_coupons(self) -> list[int]: ...
    def available_redemptions(self) -> list[int]: ...
    def to_raw(self) -> RawQuote: ...
    def to_dict(self) -> dict: ...
    def to_json(self, inner: bool = False, head: bytes | None = None) -> bytes: ...

def quote(
    table: CompiledTable,
    member: Member,
    room: str | None,
    now: int,
    lines: Sequence[tuple[str, int]],
    fulfillment: str = "delivery",
    stock: Stock | None = None,
) -> Quote: ...
def c_constants() -> dict: ...
