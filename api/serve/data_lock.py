"""One data directory, one owner: an exclusive `flock` on the data directory itself (and its rights.lock).

The embedded redis-server appends to the AOF under the data directory; two of them on
the same files would interleave their writes. Whoever runs the embedded Redis (`rights
serve`, or a `rights members ...` command while no server runs) holds the lock for as
long as that Redis lives. Its file descriptors are passed to the redis-server child as
well, so when the owner is killed outright the lock stays held until its Redis has
finished flushing and exited; only then can the next owner start a Redis on the files.

The lock is taken on the directory, not only on a file in it: a file can be deleted while
it is locked (say by someone tidying a lock a killed server left), and the next comer
would then lock a new file and start a second Redis on the same AOF; a directory holding
the AOF cannot be removed that way. `<data dir>/rights.lock` is locked too (what a
server of an earlier release locks) and holds one JSON line naming the holder (pid,
command, Redis URL), for the next comer to use or to name in its refusal; a clean stop
empties it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

import orjson

LOCK_NAME = "rights.lock"
DYING_HOLDER_WAIT_S = 15.0  # a killed server's redis-server flushing, its HTTP workers draining


class DataDirBusy(RuntimeError):
    """Another live process owns the data directory."""

    def __init__(self, directory: Path, holder: dict):
        self.directory = directory
        self.holder = holder
        where = ", ".join(str(holder[k]) for k in ("url", "http") if holder.get(k))
        who = (
            f"{holder.get('command', 'another process')} (pid {holder.get('pid', '?')}{', ' + where if where else ''})"
        )
        super().__init__(f"the data directory {directory} is in use by {who}; stop it first, or use another --data-dir")


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DataDirLock:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.fd: int | None = None  # the directory's: the lock
        self.record_fd: int | None = None  # rights.lock's: what it says of the holder, locked as well
        self.record: dict = {}

    def holder(self) -> dict:
        """What the lock file says about its holder ({} while it is being written or emptied)."""
        try:
            return orjson.loads(self.path.read_bytes() or b"{}")
        except (OSError, orjson.JSONDecodeError):
            return {}

    def try_acquire(self, command: str) -> bool:
        """Take the lock if it is free; never waits."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:  # deleted meanwhile (a reset): the caller tries again
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            opened, now = os.fstat(fd), os.stat(self.directory)
            if (opened.st_dev, opened.st_ino) != (now.st_dev, now.st_ino):  # deleted and made again meanwhile
                os.close(fd)
                return False
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return False
        record = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:  # the file too: a holder of an earlier release locks only the file
            fcntl.flock(record, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(record)
            os.close(fd)
            return False
        self.fd, self.record_fd = fd, record
        self.write(pid=os.getpid(), command=command, since=int(time.time()))
        return True

    @property
    def fds(self) -> tuple[int, ...]:
        """The descriptors that hold the lock: a child given them keeps it while it lives."""
        return tuple(fd for fd in (self.fd, self.record_fd) if fd is not None)

    def acquire(self, command: str, wait_s: float = DYING_HOLDER_WAIT_S) -> DataDirLock:
        """Take the lock, or raise DataDirBusy at once if its holder is a live process.

        A holder that is gone while the lock is still held is dying (its redis-server is
        flushing): wait for it, up to `wait_s`. So is an unnamed holder (starting up, or
        emptying the file on its way out)."""
        deadline = time.monotonic() + wait_s
        while not self.try_acquire(command):
            holder = self.holder()
            if (holder and alive(holder.get("pid"))) or time.monotonic() > deadline:
                raise DataDirBusy(self.directory, holder)
            time.sleep(0.1)
        return self

    def write(self, **fields) -> None:
        """Add to what the lock file says about this holder."""
        assert self.record_fd is not None
        self.record.update(fields)
        data = orjson.dumps(self.record) + b"\n"
        os.ftruncate(self.record_fd, 0)
        os.pwrite(self.record_fd, data, 0)

    def release(self) -> None:
        """Empty the file and close it. The lock is free once no child holds the
        descriptor either (no LOCK_UN: a child still running keeps the lock, rightly)."""
        if self.fd is None:
            return
        try:
            if self.record_fd is not None:
                os.ftruncate(self.record_fd, 0)
        finally:
            if self.record_fd is not None:
                os.close(self.record_fd)
            os.close(self.fd)
            self.fd = self.record_fd = None


def reset(directory: str | Path) -> bool:
    """Delete a data directory, under its lock: refused (DataDirBusy) while a live process
    holds it, so a running server's files are never pulled from under it. False when
    there was nothing to delete."""
    directory = Path(directory)
    if not directory.is_dir():
        return False
    refuse_to_reset(directory)
    lock = DataDirLock(directory)
    if not lock.try_acquire("rights reset"):
        raise DataDirBusy(directory, lock.holder())
    try:
        shutil.rmtree(directory)
    finally:
        lock.release()  # descriptors of a directory and a file already unlinked: nobody else can have locked them
    return True


class NotADataDir(ValueError):
    """A directory `reset` will not delete: not one a server made, or one holding more."""


def refuse_to_reset(directory: Path) -> None:
    """A mistyped --data-dir must not delete a checkout or a home: only a directory a server
    or command has locked (it holds rights.lock) that is not the working directory, one of
    its parents, the home directory or a git checkout."""
    where = directory.resolve()
    here = Path.cwd().resolve()
    if directory.is_symlink():
        raise NotADataDir(f"{directory} is a symbolic link: give the directory itself, not deleted")
    if not (directory / LOCK_NAME).exists():
        raise NotADataDir(f"{directory} has no {LOCK_NAME}: not a data directory of rights-engine, not deleted")
    if where == here or where in here.parents or where == Path.home().resolve() or (where / ".git").exists():
        raise NotADataDir(
            f"{directory} is the working directory, one of its parents, a home or a checkout: not deleted"
        )
    nested = next((lock.parent for lock in where.rglob(LOCK_NAME) if lock.parent != where), None)
    if nested is not None:  # another server's (or a stopped one's) data: never deleted with this one
        raise NotADataDir(f"{directory} holds another data directory, {nested}: not deleted")
