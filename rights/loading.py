"""What the commands that load files into Redis share: the file's text, and the Redis to write to.

Both fail in one line on stderr naming the command, never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from api.serve.command_redis import redis_for
from api.serve.data_lock import DataDirBusy


def redis_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that reads or writes Redis takes."""
    parser.add_argument("--redis-url", help="default: REDIS_URL, else the embedded Redis under --data-dir")
    parser.add_argument("--data-dir", default=None, help="the embedded Redis's data directory (default ./var)")


def read_text(path: str, command: str) -> str | None:
    """A UTF-8 file's text, or None after saying why not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{command}: {path}: {exc}", file=sys.stderr)
        return None


@contextlib.contextmanager
def command_redis(url: str | None, data_dir: str | None, command: str) -> Iterator[str]:
    """The Redis URL for `command` (api/serve/command_redis.py); exit 1 when another process holds
    the data directory and offers no Redis that answers."""
    with contextlib.ExitStack() as stack:
        try:
            found = stack.enter_context(redis_for(url, data_dir, command))
        except DataDirBusy as exc:
            print(f"{command}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        yield found
