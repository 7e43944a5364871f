"""What the commands that load files into Redis share: the file's text, and the Redis to write to.

Both fail in one line on stderr naming the command, never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import stat
import sys
from collections.abc import Iterator

from api.serve.command_redis import redis_for
from api.serve.data_lock import DataDirBusy


def redis_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that reads or writes Redis takes."""
    parser.add_argument("--redis-url", help="default: REDIS_URL, else the embedded Redis under --data-dir")
    parser.add_argument("--data-dir", default=None, help="the embedded Redis's data directory (default ./var)")


MAX_FILE_BYTES = 1024**3  # a file loaded at once (about 4 million member rows): a larger one is split


def read_text(path: str, command: str) -> str | None:
    """A UTF-8 file's text, or None after saying why not: at most MAX_FILE_BYTES, and never
    a device (`/dev/zero` would be read until memory ran out); a pipe is read up to the bound."""
    try:
        kind = os.stat(path).st_mode
        if stat.S_ISCHR(kind) or stat.S_ISBLK(kind) or stat.S_ISDIR(kind):
            print(f"{command}: {path}: not a file", file=sys.stderr)
            return None
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            print(f"{command}: {path}: larger than {MAX_FILE_BYTES // 1024**3} GiB; split it", file=sys.stderr)
            return None
        return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read()  # newlines as a text-mode read reads them
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
