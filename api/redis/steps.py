"""Several scripts' calls as one round trip, on one Redis node.

On a Redis Cluster a settlement or a redemption is a sequence of scripts, one slot each
(the member's, a stock item's, a leader's, a room's, the brand chain's), each a round trip.
On a single node one script may touch keys of several slots, so the same calls can run
in one: `Steps` collects each step as the call it would be on its own (its name, KEYS and
ARGV, built as for that call), and a ONE_NODE script (api/redis/scripts.py) runs them in
its own order, each step the script of the same name (`--#script`), deciding from their
answers which come next. It is one script, so its steps are atomic together: no other
request sees one half done, and a crash never leaves one half done.

The encoding (read by lua/steps.lua): KEYS are the steps' keys in order; ARGV[1] is a
JSON array of strings: the number of steps, then for each its name, number of keys and
number of args, then the steps' args in order. One argument, not dozens: the client
encodes one string instead of each argument apart (redis-py's packing of a command costs
per argument), and Redis decodes it in C (cjson).
"""

from __future__ import annotations

from typing import Any

import orjson

from .keys import SCOPE
from .scripts import BRANDED, ONE_NODE


class Steps:
    """The calls of one request's steps, in order; a name may come more than once."""

    def __init__(self) -> None:
        self.heads: list[str | int] = []
        self.keys: list[str] = []
        self.args: list[Any] = []

    def add(self, name: str, keys: list[str], args: list[Any], script: str = "") -> Steps:
        """Step `name`: the call of script `script` (`name` by default), with `keys` and
        `args` as that script takes them; a BRANDED script's brand is put last, as the
        script's own wrapper would."""
        if (script or name) in BRANDED:
            args = [*args, SCOPE.get().ledger]
        self.heads += [name, str(len(keys)), str(len(args))]
        self.keys += keys
        self.args += [_text(arg) for arg in args]
        return self

    def __contains__(self, name: str) -> bool:
        return name in self.heads[::3]

    async def run(self, scripts: Any, name: str) -> Any:
        """The steps through ONE_NODE script `name`: one round trip."""
        assert name in ONE_NODE, f"{name} does not run steps"
        packed = orjson.dumps([str(len(self.heads) // 3), *self.heads, *self.args])
        return await getattr(scripts, name)(keys=self.keys, args=[packed])


def _text(arg: Any) -> str:
    """An argument as Redis would get it on its own (redis-py's encoding: bytes as they
    are, numbers as their repr)."""
    if isinstance(arg, str):
        return arg
    if isinstance(arg, bytes):
        return arg.decode()
    return repr(arg)
