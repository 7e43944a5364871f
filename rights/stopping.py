"""A one-off command stopped by a signal stops as Ctrl-C stops it: by an exception raised
where it is, so every `with` on the way out (a benchmark's servers, an import's Redis and
lock) ends its work, and then one line says what stopped it, not a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT is KeyboardInterrupt already


class Stopped(BaseException):
    """A stop signal, raised where the command is (past its `except Exception`s, as KeyboardInterrupt is)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise Stopped; the handlers before are put back after."""

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    # a signal ignored (nohup's SIGHUP) stays ignored
    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stopped_by(exc: BaseException) -> tuple[str, int]:
    """(the signal's name, the exit code a shell expects: 128 + its number) of Stopped or Ctrl-C."""
    signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
    return signal.Signals(signum).name, 128 + signum


def end_as_interrupted(exc: BaseException) -> None:
    """After Ctrl-C has been told: end by SIGINT itself, as Python does for an uncaught
    KeyboardInterrupt, so a shell loop around the command stops too."""
    if isinstance(exc, KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
