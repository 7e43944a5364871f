"""The one home for Redis holds together: every Lua file is a script or a fragment one
includes, every include and constant resolves, every script's header names its KEYS by
their builders in api.redis.keys and those keys share one Cluster slot, every script
compiles on a real Redis (and a Cluster), and no module in api/ reaches into another's
private names."""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
from pathlib import Path

import pytest
from redis.crc import key_slot

from api.redis import keys
from api.redis import scripts as registry
from api.redis.scripts import LUA, NAMES, Scripts, includes, source
from engine.model import MAX_POINTS

API = Path(__file__).resolve().parent.parent / "api"
# one sample value per parameter name of a key builder: the tag comes from the member, the
# leader, the pool and item, or a constant tag, whatever the other parts are
SAMPLES = {
    "member_id": "M1",
    "leader_id": "L1",
    "pool": keys.REDEMPTIONS,
    "item_id": "I1",
    "version": "v1",
    "kind": keys.ORDER_RECORD,
    "name": "n1",
    "order_id": "O1",
    "key": "k1",
    "window": 29_000_000,
    "channel": "phone",
    "value": "13800000001",
    "room": "gala",
    "tier": "gold",
    "minute": 29_000_000,
    "n": 7,
    "draw_id": "D1",
}


def declared_keys(name: str) -> list:
    """The KEYS a script's header names (`-- KEYS: a, b[, c]`), optional ones included."""
    text = (LUA / f"{name}.lua").read_text(encoding="utf-8")
    found = re.findall(r"^-- KEYS: (.+)$", text, re.MULTILINE)
    assert len(found) == 1, f"lua/{name}.lua: one '-- KEYS: ...' header line, found {len(found)}"
    return [part.strip() for part in found[0].replace("[", "").replace("]", "").split(",")]


def built(builder: str) -> str:
    made = getattr(keys, builder, None)
    assert made is not None, f"api.redis.keys has no {builder}"
    if isinstance(made, str):
        return made
    return made(*[SAMPLES[p] for p in inspect.signature(made).parameters])


def test_every_lua_file_is_a_script_or_a_fragment_a_script_includes():
    files = {path.stem for path in LUA.glob("*.lua")}
    fragments = {fragment for name in NAMES for fragment in includes(name)}
    assert files == set(NAMES) | fragments, "a .lua file nothing uses, or a script without its file"
    assert not fragments & set(NAMES), "a fragment is not a script of its own"
    assert {"lots", "prune"} <= fragments


def test_every_include_and_constant_resolves():
    for name in NAMES:
        text = source(name)
        assert "--#include" not in text and "${" not in text, name
    assert f"local MAX_BALANCE = {MAX_POINTS}\n" in source("ledger_credit_event")
    assert "local function prune(" in source("pickup_hand_over")


def test_a_missing_fragment_a_loop_or_an_unknown_constant_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "missing.lua").write_text("--#include nowhere\nreturn 1\n")
    (tmp_path / "loop.lua").write_text("--#include loop\n")
    (tmp_path / "unknown.lua").write_text("return ${NO_SUCH_CONSTANT}\n")
    monkeypatch.setattr(registry, "LUA", tmp_path)
    monkeypatch.setattr(registry, "NAMES", ("missing", "loop", "unknown"))
    source.cache_clear()
    try:
        with pytest.raises(FileNotFoundError):
            source("missing")
        with pytest.raises(ValueError, match="includes itself"):
            source("loop")
        with pytest.raises(ValueError, match="NO_SUCH_CONSTANT"):
            source("unknown")
        with pytest.raises(KeyError):
            source("ledger_sweep")
    finally:
        source.cache_clear()


def test_each_scripts_keys_are_built_by_api_redis_keys_and_share_one_slot():
    for name in NAMES:
        if name in registry.ONE_NODE or name in registry.BATCHED:
            continue  # its keys are its steps' or its calls' (the next tests)
        builders = declared_keys(name)
        used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", source(name))}
        assert used and max(used) == len(builders), (
            f"{name}: KEYS[1..{max(used, default=0)}] used, header names {len(builders)}"
        )
        slots = {key_slot(built(builder).encode()) for builder in builders}
        assert len(slots) == 1, f"{name}: its keys {builders} span {len(slots)} Cluster slots"


def test_a_one_node_script_runs_scripts_as_its_steps_and_names_no_key_of_its_own():
    """A ONE_NODE script spans slots only through its steps, each a script that passes the
    test above; its own code reads KEYS only as lua/steps.lua hands them out."""
    assert registry.ONE_NODE <= set(NAMES)
    for name in registry.ONE_NODE:
        text = (LUA / f"{name}.lua").read_text(encoding="utf-8")
        assert re.search(r"^-- KEYS: the steps' keys \(lua/steps.lua\)", text, re.MULTILINE), name
        steps = re.findall(r"^--#script ([a-z_]+)$", text, re.MULTILINE)
        assert steps and set(steps) <= set(NAMES) - registry.ONE_NODE, name
        assert "steps" in includes(name)
        own = re.sub(r"^--#.*$", "", text, flags=re.MULTILINE)
        assert not re.search(r"KEYS\[\d", own), f"{name} reads a key by its place: only its steps' keys"
        assert f"local function {steps[0]}(KEYS, ARGV)" in source(name)


def test_a_batched_script_runs_one_script_for_each_call_over_that_scripts_keys():
    """A BATCHED script spans slots only as calls of the script it runs, each call's keys
    those the script's header names (so each call alone shares one slot, the test above)."""
    assert set(registry.BATCHED) <= set(NAMES) and not set(registry.BATCHED) & registry.ONE_NODE
    for name, runs in registry.BATCHED.items():
        assert runs in NAMES and runs not in registry.BATCHED and runs not in registry.ONE_NODE, name
        text = (LUA / f"{name}.lua").read_text(encoding="utf-8")
        assert re.findall(r"^--#script ([a-z_]+)$", text, re.MULTILINE) == [runs], name
        keys = re.search(r"^-- KEYS: each call's keys \(([^)]*)\)", text, re.MULTILINE)
        assert keys and [part.strip() for part in keys.group(1).split(",")] == declared_keys(runs), name
        assert f"local function {runs}(KEYS, ARGV)" in source(name)


def test_every_script_is_registered_on_a_client_and_compiles_on_redis(redis_client):
    registered = Scripts(redis_client)
    for name in NAMES:
        text = source(name)
        assert getattr(registered, name).sha == hashlib.sha1(text.encode()).hexdigest()
        loaded = redis_client.script_load(text)  # compiles the script: a syntax error is a ResponseError
        assert hashlib.sha1(text.encode()).hexdigest() in str(loaded), name


def test_no_module_imports_another_modules_private_names():
    for path in API.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.relative_to(API.parent)} imports {private} from .{node.module}"
