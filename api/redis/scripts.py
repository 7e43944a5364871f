"""The product's Lua scripts: one registry, registered on one redis-py client.

Each script is `lua/<name>.lua`, and a `Scripts` attribute of the same name. In a script,
a line `--#include <fragment>` stands for the whole of `lua/<fragment>.lua` (shared Lua
functions: `lots`, a member's points lots; `chain`, the ledger's hash chains; `prune`, a
pick list's pruning), a line `--#script <name>` for the whole of script `name` as a local
Lua function `name(KEYS, ARGV)` (the one-node scripts of ONE_NODE chain other scripts so),
and `${NAME}` for the constant NAME of CONSTANTS, put in when the source is read (MAX_POINTS:
the largest balance, one number for Python and Lua). A script's header names its KEYS by
their builders in api.redis.keys, which tests/test_redis_home.py checks share one slot.

To add a script: write `lua/<name>.lua` with its header (`-- KEYS: ...`, `-- ARGV: ...`),
declare `<name>: Registered` on Scripts, and call it as `scripts.<name>(keys=[...], args=[...])`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from redis.commands.core import AsyncScript, Script

from engine.model import MAX_POINTS
from engine.rules.checks.common import MAX_STOCK

from ..owned_coupons import GRANT_RETENTION_DAYS, MAX_GRANTS
from .keys import DASHBOARD_MINUTES, DASHBOARD_SESSION_SECONDS, DRAW_RETENTION_DAYS, ORDER_RETENTION_DAYS, SCOPE

CHAIN_GENESIS = "0" * 40  # the `h` before the first entry of every hash chain (api/ledger_chain.py)
LUA = Path(__file__).resolve().parent / "lua"
CONSTANTS = {
    "MAX_POINTS": MAX_POINTS,
    "MAX_STOCK": MAX_STOCK,
    "ORDER_RETENTION_SECONDS": ORDER_RETENTION_DAYS * 86400,
    "DASHBOARD_MINUTES": DASHBOARD_MINUTES,
    "DASHBOARD_SESSION_SECONDS": DASHBOARD_SESSION_SECONDS,
    "GRANT_RETENTION_SECONDS": GRANT_RETENTION_DAYS * 86400,
    "MAX_GRANTS": MAX_GRANTS,
    "CHAIN_GENESIS": CHAIN_GENESIS,
    "DRAW_RETENTION_SECONDS": DRAW_RETENTION_DAYS * 86400,
}
_INCLUDE = re.compile(r"^--#(include|script) ([a-z_]+)$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Registered = Script | AsyncScript  # what register_script gives a sync or an asyncio client


class Scripts:
    """Every script, registered on `client` (sync or asyncio, one server or a Cluster);
    registering computes the SHA1 only: a script reaches Redis on its first call."""

    # the points ledger (api/ledger.py)
    ledger_sweep: Registered
    ledger_set_balance: Registered
    ledger_credit_event: Registered
    ledger_freeze: Registered
    # the brand-wide hash chain (api/ledger_chain.py)
    chain_link: Registered
    # members (api/store.py)
    member_import: Registered
    member_import_node: Registered  # a batch of members on one Redis node (api/store.py MemberWrites)
    # tier progression (api/progression.py)
    tier_progress: Registered
    # attempts and shared stock (api/reservations.py)
    attempt_begin: Registered
    attempt_fence: Registered
    stock_reserve: Registered
    stock_release: Registered
    stock_give_back: Registered
    stock_read: Registered
    # orders (api/orders.py)
    order_drop: Registered
    order_settle: Registered
    order_refund: Registered
    # one round trip on one Redis node (api/redis/steps.py): a settlement, a redemption
    order_node: Registered
    redeem_node: Registered
    # the big screen (api/dashboard.py)
    dashboard_order: Registered
    # redemptions (api/redeem.py)
    redeem: Registered
    redeem_finish: Registered
    # draws (api/draws.py)
    draw_seed: Registered
    draw_reserve: Registered
    draw_settle: Registered
    draw_enter: Registered
    draw_close: Registered
    draw_award: Registered
    # pick lists (api/pickups.py)
    pickup_list: Registered
    pickup_settle: Registered
    pickup_hand_over: Registered
    # rule tables (api/rules_store.py)
    rules_activate: Registered
    rules_add_samples: Registered
    # metrics (api/metrics.py)
    metrics_retire: Registered
    metrics_publish: Registered
    brand_register: Registered

    def __init__(self, client: Any) -> None:
        self.client = client
        for name in NAMES:
            script = client.register_script(source(name))
            setattr(self, name, Branded(script) if name in BRANDED else script)


NAMES = tuple(Scripts.__annotations__)
# the scripts that credit or take points: each reads the alliance brand it acts for from its last ARGV
BRANDED = frozenset({"ledger_credit_event", "order_settle", "order_refund", "redeem", "draw_enter", "draw_award"})
# the scripts that run other scripts as their steps, over keys of several slots: one Redis node only
ONE_NODE = frozenset({"order_node", "redeem_node"})
# the scripts that run another script once for each call of a batch, over keys of several slots: one Redis
# node only (name -> the script it runs)
BATCHED = {"member_import_node": "member_import"}


class Branded:
    """A BRANDED script: called as any other, with the request's alliance brand (the key
    scope's `ledger`, api/redis/keys.py) given as its last argument, so its lots and
    ledger entries name the brand for clearing (api/alliance.py)."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.sha = script.sha

    def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        return self.script(
            keys=keys, args=[*(args or []), SCOPE.get().ledger], client=client
        )  # the scripts, in the order declared


@functools.cache
def source(name: str) -> str:
    """The script `name` as Redis runs it: its fragments included, its constants put in."""
    if name not in NAMES:
        raise KeyError(f"no script {name!r}; the scripts are {', '.join(NAMES)}")
    text = _expand(name, (), [])
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(CONSTANTS))
    if missing:
        raise ValueError(f"script {name}: no constant {', '.join(missing)} (api.redis.scripts.CONSTANTS)")
    return _PLACEHOLDER.sub(lambda m: str(CONSTANTS[m.group(1)]), text)


def includes(name: str) -> list[str]:
    """The fragments script `name` includes, directly or through another, in order."""
    found: list = []
    _expand(name, (), found)
    return found


def _expand(name: str, within: tuple, found: list) -> str:
    if name in within:
        raise ValueError(f"lua/{name}.lua includes itself through {' -> '.join(within)}")
    path = LUA / f"{name}.lua"
    if not path.is_file():
        raise FileNotFoundError(f"{within[-1] if within else name}: no {path}")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        match = _INCLUDE.match(line.rstrip("\n"))
        if match is None:
            out.append(line)
            continue
        kind, included = match.groups()
        if kind == "script":  # a whole script as a function of its own KEYS and ARGV
            out.append(f"local function {included}(KEYS, ARGV)\n{_expand(included, within + (name,), found)}end\n")
            continue
        if included not in found:
            found.append(included)
        out.append(_expand(included, within + (name,), found))
    return "".join(out)
