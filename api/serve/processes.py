"""What /proc says of a process, read one way for the supervisor, the benchmarks and the
tests (Linux)."""

from __future__ import annotations

from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...), or
    None when the process is gone. The name may hold any byte, and `)`: it is cut at the last."""
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
