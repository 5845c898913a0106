"""Inter-process locks on a folder: one writer at a time, and readers that never see half a model.

Why: several runs may touch one folder at once. A script or a Lightroom plugin starts `add-edits`
twice, a studio predicts from a shared model while it is updated, two `apply` runs merge into one
photo folder's sidecars. Without a lock two writers interleave their staging and commits
(core.artifacts) and leave a folder with half of each model, or both read the index and the
later write drops the earlier run's edits.

Two OS locks per folder (flock). The kernel releases them when their process ends, however it
ends (SIGKILL included), so a killed run never blocks the next one:

    .wbstyle-write.lock   `write_lock`: held by a writer for its whole run (filelock.FileLock, never its
                          soft variant). A writer that has to wait prints who holds it, from the side file
                          .wbstyle-write.json (command, pid, host, since), and gives up after `timeout`
                          seconds with a CatalogError naming the holder.
    .wbstyle-read.lock    `FolderFlock`: shared while a reader loads a model, exclusive for the few
                          renames of a commit (core.artifacts.ModelWriter). filelock has no shared
                          mode, so this one is fcntl.flock itself; where there is no fcntl (Windows) it
                          does nothing and a reader relies on the manifest check alone.

Network drives: locks there are advisory and, depending on the mount, may only keep apart runs on
one computer (NFS with a working lock service shares them; SMB mounts and NFS mounted with
`local_lock` do not). `write_lock` says so once when the folder is on such a drive; a file system
with no locks at all gets a warning and the run goes on unlocked.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from core.errors import CatalogError

try:
    import fcntl
except ImportError:  # Windows: no shared locks (module doc)
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT = 300.0  # seconds a writer waits for another (the --lock-timeout default)
WRITE_LOCK, HOLDER, READ_LOCK = ".wbstyle-write.lock", ".wbstyle-write.json", ".wbstyle-read.lock"
LOCK_FILES = (WRITE_LOCK, READ_LOCK)  # what stays in a folder after a run (the holder's side file goes)
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph", "glusterfs",
              "fuse.glusterfs", "lustre", "davfs", "fuse.rclone"}
POLL = 0.02  # seconds between tries of a contended flock
_held: dict[str, int] = {}  # folders whose write lock this process holds -> depth (a command calling another's run)
_warned: set[str] = set()  # mount points already warned about


# --------------------------------------------------------------------------- one writer at a time
@contextmanager
def write_lock(folder: str | Path, command: str | None = None, timeout: float = LOCK_TIMEOUT,
               create: bool = True) -> Iterator[None]:
    """Hold FOLDER's write lock for the `with` block (creating the folder, or CatalogError when it is
    missing and not `create`); wait up to `timeout` seconds for another writer, printing who it is,
    then CatalogError. Re-entrant in one process."""
    from filelock import FileLock

    folder = Path(folder)
    if not create and not folder.is_dir():
        raise CatalogError(f"{folder}: folder not found")
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    _warn_if_network(folder)
    lock = FileLock(folder / WRITE_LOCK, thread_local=False, fallback_to_soft=False)
    if not _acquire(lock, folder, timeout):
        yield  # a file system without locks: warned, unlocked
        return
    _held[key] = 1
    try:
        _write_holder(folder / HOLDER, command or _command())
        yield
    finally:
        del _held[key]
        (folder / HOLDER).unlink(missing_ok=True)  # before the release: the next holder writes its own
        lock.release()


def writes_folder(field: str, command: str, create: bool = True, when: Callable[[Any], bool] = lambda cfg: True):
    """Decorator of a command's run function `run(cfg, ...)`: run it holding the write lock of the
    folder `getattr(cfg, field)` (write_lock), waiting up to cfg.lock_timeout (only where when(cfg))."""
    def wrap(run):
        @functools.wraps(run)
        def locked(cfg, *args, **kwargs):
            if not when(cfg):
                return run(cfg, *args, **kwargs)
            with write_lock(getattr(cfg, field), command, cfg.lock_timeout, create):
                return run(cfg, *args, **kwargs)
        return locked
    return wrap


def holder(folder: str | Path) -> str:
    """Who holds FOLDER's write lock, in words (from its side file; 'another run' when unknown)."""
    try:
        info = json.loads((Path(folder) / HOLDER).read_text(encoding="utf-8"))
        since = datetime.fromisoformat(info["since"])
        ago = (datetime.now(timezone.utc) - since).total_seconds()
        return (f"`{info['command']}` (pid {info['pid']} on {info['host']}, since "
                f"{since.strftime('%Y-%m-%d %H:%M:%S')} UTC, {ago:.0f} s ago)")
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"


def _acquire(lock, folder: Path, timeout: float) -> bool:
    """Take the lock, printing the holder if it has to wait; False on a file system with no locks."""
    from filelock import Timeout

    try:
        try:
            lock.acquire(blocking=False)
            return True
        except Timeout:
            pass
        who = holder(folder)
        if who == "another run":  # it may have taken the lock an instant ago: its side file follows
            time.sleep(0.2)
            who = holder(folder)
        print(f"{folder}: being written by {who}; waiting for it up to {timeout:.0f} s "
              f"(--lock-timeout)", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=timeout)
            return True
        except Timeout:
            raise CatalogError(f"{folder}: still being written by {holder(folder)} after waiting {timeout:.0f} s; "
                               f"run this again when it has finished, or wait longer with --lock-timeout") from None
    except OSError as e:
        if e.errno == errno.ENOSYS:  # ENOSYS: flock not supported here
            print(f"warning: {folder}: this file system has no file locks, so nothing keeps two runs from "
                  f"writing this folder at once: do not start another one before this one ends",
                  file=sys.stderr, flush=True)
            return False
        raise CatalogError(f"{folder}: cannot create its lock file {WRITE_LOCK} ({e.strerror}); "
                           f"a folder wbstyle writes must be writable") from e


def _write_holder(path: Path, command: str) -> None:
    from core.artifacts import write_json  # atomic; artifacts imports this module

    write_json(path, {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                      "since": datetime.now(timezone.utc).isoformat()})


def _command() -> str:
    """The running command in a few words (cli.py add-edits, a benchmark script ...)."""
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:2]]
    return " ".join(a for a in argv if a and not a.startswith("-"))


def network_fs(folder: str | Path, mounts_file: str | Path = "/proc/self/mounts") -> str | None:
    """The file system type of FOLDER when it is a network drive (Linux: the mount table), else None."""
    try:
        mounts = Path(mounts_file).read_text().splitlines()
    except OSError:
        return None
    real, best = os.path.realpath(folder), ("", "")
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best[0]):
            best = (point, parts[2])
    return best[1] if best[1] in NETWORK_FS else None


def _warn_if_network(folder: Path) -> None:
    fs = network_fs(folder)
    if fs and fs not in _warned:
        _warned.add(fs)
        print(f"note: {folder} is on a network drive ({fs}): the lock that makes runs on one folder wait for "
              f"each other is advisory there and may only hold between runs on this computer",
              file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- readers and commits
class FolderFlock:
    """FOLDER/.wbstyle-read.lock held shared (readers) or exclusive (a commit), while in `with`.

    Does nothing where the lock file cannot be opened (a read-only model folder: nobody writes it
    there) or there is no fcntl. `exclusive()` / `shared()` convert the held lock in place."""

    def __init__(self, folder: str | Path, exclusive: bool = False, timeout: float = LOCK_TIMEOUT):
        self.folder, self.timeout, self.fd, self._start_exclusive = Path(folder), timeout, None, exclusive

    def __enter__(self) -> "FolderFlock":
        self.fd = self._open()  # None without fcntl
        if self.fd is not None:
            self._lock(fcntl.LOCK_EX if self._start_exclusive else fcntl.LOCK_SH)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None

    def exclusive(self) -> None:
        if self.fd is not None:
            self._lock(fcntl.LOCK_EX)

    def shared(self) -> None:
        if self.fd is not None:
            self._lock(fcntl.LOCK_SH)

    def _open(self) -> int | None:
        if fcntl is None or not self.folder.is_dir():
            return None
        path = self.folder / READ_LOCK
        for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):  # flock needs no write access
            try:
                return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
            except OSError:
                continue
        return None

    def _lock(self, mode: int) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    what = "a commit" if mode == fcntl.LOCK_SH else "readers"
                    raise CatalogError(f"{self.folder}: waited {self.timeout:.0f} s for {what} to finish "
                                       f"with the model folder; try again") from None
                time.sleep(POLL)
            except OSError as e:
                if e.errno == errno.ENOSYS:  # ENOSYS: no locks on this file system (see write_lock's warning)
                    os.close(self.fd)
                    self.fd = None
                    return
                raise
