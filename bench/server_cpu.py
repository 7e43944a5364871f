"""The CPU time a server spends, read from /proc: user plus system time of every process
in its tree (the process started and all its descendants, found by parent pid), so that
a request's cost counts wherever it is paid: uvicorn's workers, the manager, an embedded
redis-server, the supervisor. Linux only; the benchmarks that use it run there.
"""

from __future__ import annotations

import os

from api.serve.processes import stat_fields

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """`root` and every process descending from it, as running now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(root: int) -> float:
    """User plus system CPU seconds spent so far by the processes of `root`'s tree (a
    process that ended is not counted: compare readings of a tree that stays up)."""
    ticks = 0
    for pid in tree(root):
        fields = stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / TICKS_PER_SECOND
