"""Children that do not outlive their parent.

`rights serve` owns a redis-server and an HTTP server. If it is killed outright (SIGKILL,
the OOM killer), nothing of it may keep running: a second server would otherwise start a
second redis-server on the same AOF files, or find its port taken. Two mechanisms, for
two kinds of child:

- a child we spawn ourselves asks the kernel for SIGTERM when its parent dies
  (`prctl(PR_SET_PDEATHSIG)`, set between fork and exec, kept across exec);
- uvicorn's worker processes are spawned by uvicorn, so each watches its parent's pid
  from its event loop and stops itself when the parent is gone.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5
HARD_EXIT_AFTER_S = 20.0  # a worker whose graceful stop hangs is ended anyway

_libc = None


def _prctl():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc.prctl


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A `preexec_fn` for Popen: the child gets SIGTERM when `parent_pid` dies.

    The kernel signals when the *thread* that forked the child ends, so the caller must
    spawn from the main thread of a process that lives as long as the child should.
    """
    prctl = _prctl()  # looked up before the fork: no dlopen in the child

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


async def watch_parent(parent_pid: int | None = None) -> None:
    """Stop this process (SIGTERM to itself: uvicorn's graceful stop) once its parent is
    gone; if that stop hangs, exit outright."""
    parent = parent_pid or os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(WATCH_SECONDS)
    asyncio.get_running_loop().call_later(HARD_EXIT_AFTER_S, os._exit, 1)
    os.kill(os.getpid(), signal.SIGTERM)
