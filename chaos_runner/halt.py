"""The halt switch: one per machine, on disk, beside the target locks.

``chaos halt`` engages it: every run on this machine aborts and restores (the safety control
watches the file), and new runs and gates refuse to start until ``chaos halt --release``.
The switch is a small JSON file (reason, who, when, pid) at ``CHAOS_HALT_FILE``, else
``HALT`` in the lock directory (``CHAOS_LOCK_DIR``); it is written atomically (a temporary
file renamed over it) and survives a restart. Its existence is the switch: a file that
cannot be read still halts (a damaged switch must not let runs go on).
"""

import contextlib
import getpass
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos_runner.ledger import lock_directory

__all__ = [
    "HALT_VARIABLE",
    "Halt",
    "Watcher",
    "engage",
    "halt_path",
    "pid_alive",
    "release",
    "running_runs",
    "state",
    "user_name",
    "watch",
]

#: The variable that names the halt file (default: ``HALT`` in the lock directory).
HALT_VARIABLE = "CHAOS_HALT_FILE"


@dataclass(frozen=True, slots=True)
class Halt:
    """The switch as engaged: why, by whom, when (epoch seconds), from which process."""

    reason: str
    who: str
    when: float
    pid: int
    path: Path

    def describe(self) -> str:
        """One sentence: who halted runs on this machine, when, and why."""
        moment = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.when)) if self.when else "?"
        return (
            f"halted by {self.who} on {moment}: {self.reason} (the halt switch {self.path}; "
            "`chaos halt --release` lets runs start again)"
        )


def halt_path() -> Path:
    """``CHAOS_HALT_FILE``, else ``HALT`` in the lock directory (one switch per machine)."""
    explicit = os.environ.get(HALT_VARIABLE)
    return Path(explicit) if explicit else lock_directory() / "HALT"


def user_name() -> str:
    """Who runs this process: the login name, else the uid."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (some containers)
        return f"uid {os.getuid()}"


def engage(reason: str, path: Path | None = None) -> Halt:
    """Engage the switch (again, with this reason, if it already was); the switch as written."""
    path = path or halt_path()
    halt = Halt(
        reason=reason.strip() or "no reason given",
        who=user_name(),
        when=time.time(),
        pid=os.getpid(),
        path=path,
    )
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # shared by every user, like the locks
            path.parent.chmod(0o1777)
    document = {"reason": halt.reason, "who": halt.who, "when": halt.when, "pid": halt.pid}
    fd, temporary = tempfile.mkstemp(prefix=".HALT-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename survives a crash once the directory is synced
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return halt


def release(path: Path | None = None) -> Halt | None:
    """Release the switch; the switch it was (None: it was not engaged)."""
    path = path or halt_path()
    was = state(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return was


def state(path: Path | None = None) -> Halt | None:
    """The switch when engaged, else None. A file that cannot be read still halts."""
    path = path or halt_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        return Halt(f"the halt file cannot be read ({error})", "?", 0.0, 0, path)
    try:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return Halt(
            reason=str(document.get("reason") or "no reason given"),
            who=str(document.get("who") or "?"),
            when=float(document.get("when") or 0.0),
            pid=int(document.get("pid") or 0),
            path=path,
        )
    except (ValueError, TypeError) as error:
        return Halt(f"the halt file is damaged ({error})", "?", 0.0, 0, path)


def running_runs(directory: Path | None = None) -> list[str]:
    """The runs that hold a target lock on this machine now, as their locks name them.

    Read from the lock files (the holder's pid, command and target) with no lock taken, so
    a run starting at that moment is not disturbed; a pid that is gone does not count.
    """
    directory = directory or lock_directory()
    found = []
    with contextlib.suppress(OSError):
        for lock in sorted(directory.glob("*.lock")):
            with contextlib.suppress(OSError, ValueError, IndexError):
                holder = lock.read_text().strip()
                if not holder.startswith("pid "):
                    continue
                pid = int(holder.split()[1])
                if pid_alive(pid):
                    found.append(holder)
    return found


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (even one of another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Watcher:
    """A daemon thread polling the switch; calls back once when it is engaged, then ends."""

    def __init__(
        self, callback: Callable[[Halt], None], every: float = 0.2, path: Path | None = None
    ) -> None:
        self.path = path or halt_path()
        self.every = every
        self.fired = threading.Event()
        self._callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-halt-watcher", daemon=True)

    def start(self) -> "Watcher":
        """Start polling (the first look is at once)."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop polling; wait (bounded) for the thread unless called from it."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the thread polls."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.path.exists():  # one stat a poll
                halt = state(self.path)
                if halt is not None:
                    self.fired.set()
                    self._callback(halt)
                    return
            self._stop.wait(self.every)


def watch(
    callback: Callable[[Halt], None], every: float = 0.2, path: Path | None = None
) -> Watcher:
    """Call ``callback`` once, from a daemon thread, when the switch is engaged; polls its file
    every ``every`` seconds until then or until :meth:`Watcher.stop`."""
    return Watcher(callback, every, path).start()
