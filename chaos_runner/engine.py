"""Runs experiments for the gate (and game days): one ``chaos run`` subprocess each.

Why a subprocess per experiment, not chaoslib's run loop in this process:

- isolation: a run's state (signal handlers, the run context, the environment overlay,
  threads of background probes, an event loop) dies with its process, so two experiments
  cannot see each other's state, whatever a control or a probe leaves behind;
- a crash cannot take the gate down: a killed or crashed run is one experiment's verdict
  (its journal is missing or says so), and the gate goes on and reports it;
- parallelism: ``--jobs N`` runs N processes, each with a sandbox of its own;
- each run is exactly what a user gets from ``chaos run`` (same controls, same journal),
  and its log file stands beside its journal.

On the sandbox each experiment gets a state directory of its own, so the sandbox control
starts a fresh sandbox for it (same site, same config): results do not depend on order.
The site is the demo site, or the built site ``CHAOS_SANDBOX_SITE_DIR`` names in the
environment the runs are given (``chaos gate --site-dir`` sets it). On a real target the
user's environment is passed as it is, and runs go one at a time (the target's lock would
refuse a second one anyway).
"""

import contextlib
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos_runner._errors import ConfigurationError
from chaos_runner.target import TARGET_VARIABLES

if TYPE_CHECKING:
    from chaos_runner.verdict import Verdict

__all__ = [
    "ExperimentRun",
    "Progress",
    "discover",
    "judge_run",
    "run_experiment",
    "sandbox_environment",
    "sigterm_interrupts",
    "stop_all",
    "validate",
]

#: What `chaos` is, for the subprocesses: this interpreter's chaostoolkit.
_CHAOS = [sys.executable, "-m", "chaostoolkit", "--no-version-check"]
_SUFFIXES = (".yaml", ".yml", ".json")
#: A run's log lines that start a phase, and the phase's name.
_PHASES = (
    ("Steady state hypothesis", "steady state"),
    ("Playing your experiment's method now", "method"),
    ("Let's rollback", "rollbacks"),
    ("Restore:", "restore"),
    ("Experiment ended with status", "ending"),
)
_ACTIVITY = re.compile(r"\b(Action|Probe): (\S+)")
#: Longest a single experiment may run before the gate stops it (SIGTERM, then SIGKILL).
DEFAULT_TIMEOUT_S = 1800.0
#: How long a run told to stop may take to restore before it is killed: a CloudFront
#: restore waits up to 20 minutes for the distribution to be Deployed again, and a kill
#: before that leaves the fault for `chaos rollback`.
RESTORE_GRACE_S = 1500.0

Progress = Callable[[str, str], None]  # (experiment name, what it is doing now)

# Global state, in one labelled place: the runs in progress, so that an interrupted gate
# can tell each of them to stop (they restore, then end).
_running: set["subprocess.Popen[str]"] = set()
_running_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ExperimentRun:
    """One experiment run by the engine: where its files are and how it ended."""

    path: Path
    name: str
    journal_path: Path
    log_path: Path
    returncode: int
    seconds: float
    journal: dict[str, Any] | None
    #: Why there is no journal (the process crashed before writing it), else "".
    error: str


def discover(paths: list[str]) -> list[Path]:
    """The experiment files named by ``paths`` (files, or directories of them), in order.

    A directory contributes its ``*.yaml``/``*.yml``/``*.json`` files (not its
    subdirectories: ``experiments/gamedays/`` holds plans, not experiments).
    """
    if not paths:
        raise ConfigurationError("Name at least one experiment file or directory.")
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _SUFFIXES)
            if not files:
                raise ConfigurationError(
                    f"The directory {name} holds no experiment (*.yaml, *.yml or *.json)."
                )
            found += files
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigurationError(f"There is no file or directory {name}.")
    return list(dict.fromkeys(found))


def validate(path: Path) -> str:
    """Why ``path`` is not a valid experiment, in one sentence; "" when it is valid.

    Loads and validates the file as ``chaos validate`` does (the modules its activities
    name must import), without running anything.
    """
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    try:
        raw = path.read_bytes()
    except OSError as error:
        return f"{path} cannot be read: {error.strerror or error}."
    if not raw.strip():
        return f"{path} is empty."
    if b"\0" in raw:
        return f"{path} is not a text file."
    try:
        with _quiet("chaostoolkit"):  # chaoslib logs two INFO lines per file validated
            experiment = load_experiment(str(path))
            if not isinstance(experiment, Mapping):
                return f"{path} is not an experiment: it holds a {type(experiment).__name__}."
            ensure_experiment_is_valid(experiment)
    except (ChaosException, ValueError, UnicodeDecodeError, TypeError, AttributeError,
            KeyError) as error:  # fmt: skip
        problem = _one_line(str(error))
        if not isinstance(error, ChaosException | ValueError):  # chaoslib on a wrong shape
            problem = f"a key holds the wrong kind of value ({problem}); `method` is a list"
        return f"{path} is not a valid experiment: {problem}"
    return ""


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The logger ``name`` says only warnings and errors for a while."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def sandbox_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any target: each run then starts a sandbox of its own."""
    drop = {*TARGET_VARIABLES, "CHAOS_SANDBOX_ADMIN_URL", "AWS_ENDPOINT_URL", "CHAOS_LEDGER"}
    return {k: v for k, v in environ.items() if k not in drop}


def run_experiment(
    path: Path,
    directory: Path,
    environ: Mapping[str, str],
    own_state: bool,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> ExperimentRun:
    """Run ``path`` with ``chaos run``; its journal and log go to ``directory``.

    ``own_state`` gives the run a state directory (ledger, sandbox) of its own, under
    ``directory``: for the sandbox, where each run starts a fresh one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    journal_path, log_path = directory / "journal.json", directory / "chaos.log"
    journal_path.unlink(missing_ok=True)
    env = dict(environ)
    if own_state:
        env["CHAOS_STATE_DIR"] = str(directory / "state")
    command = [*_CHAOS, "--log-file", str(log_path), "run", str(path.resolve())]
    command += ["--journal-path", str(journal_path)]
    began = time.monotonic()
    try:
        returncode = _follow(command, env, path.stem, progress, timeout)
    finally:
        if own_state:
            _stop_sandbox(directory / "state")
    journal, error = _read_journal(journal_path, returncode)
    return ExperimentRun(
        path=path,
        name=path.stem,
        journal_path=journal_path,
        log_path=log_path,
        returncode=returncode,
        seconds=time.monotonic() - began,
        journal=journal,
        error=error,
    )


def _follow(
    command: list[str],
    env: dict[str, str],
    name: str,
    progress: Progress | None,
    timeout: float,
) -> int:
    """Run ``command``, reporting its phases from its log lines; its exit code."""
    process = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # a Ctrl-C on the gate reaches the runs only through it
    )
    timer = threading.Timer(timeout, _stop, (process,))
    timer.start()
    try:
        with _tracked(process):
            assert process.stderr is not None
            for line in process.stderr:
                if progress is not None:
                    step = _step(line)
                    if step:
                        progress(name, step)
            return process.wait()
    finally:
        timer.cancel()


@contextlib.contextmanager
def _tracked(process: "subprocess.Popen[str]") -> Iterator[None]:
    """Known to :func:`stop_all` while it runs; told to stop if this thread is interrupted."""
    with _running_lock:
        _running.add(process)
    try:
        yield
    except BaseException:
        _stop(process)
        raise
    finally:
        with _running_lock:
            _running.discard(process)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, a scheduler stopping us) interrupts as Ctrl-C does."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_all() -> None:
    """Tell every run in progress to stop (SIGTERM: each restores, writes its journal)."""
    with _running_lock:
        running = list(_running)
    for process in running:
        if process.poll() is None:
            process.terminate()


def _stop_sandbox(state_dir: Path) -> None:
    """Stop a sandbox a run started and could not stop itself (it crashed or was killed)."""
    from chaos_runner.sandbox.process import find_running, stop

    state_file = state_dir / "sandbox.json"
    if state_file.exists() and find_running(state_file) is not None:
        stop(state_file)


def _stop(process: "subprocess.Popen[str]") -> None:
    """SIGTERM (the run restores and writes its journal), SIGKILL after :data:`RESTORE_GRACE_S`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=RESTORE_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()


def _step(line: str) -> str:
    for marker, phase in _PHASES:
        if marker in line:
            return phase
    found = _ACTIVITY.search(line)
    return f"{found.group(1).lower()} {found.group(2)}" if found else ""


def _read_journal(path: Path, returncode: int) -> tuple[dict[str, Any] | None, str]:
    try:
        journal = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"the run ended (exit {returncode}) without writing a journal"
    except (OSError, ValueError) as error:
        return None, f"its journal {path} cannot be read ({error})"
    if not isinstance(journal, dict):
        return None, f"its journal {path} is not a JSON object"
    return journal, ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def judge_run(run: ExperimentRun, sandbox: bool) -> "Verdict":
    """The run's verdict; a run that left no readable journal is an internal error.

    Without a journal nobody knows what the run left injected: on a real target that is a
    restore to check (`chaos rollback`); a sandbox of its own was stopped with the run.
    """
    from chaos_runner.verdict import judge

    if run.journal is not None:
        try:
            return judge(run.journal)
        except ConfigurationError as error:
            return _crashed(run.path, f"its journal is not a journal ({error})", sandbox)
    return _crashed(run.path, f"{run.error}; see {run.log_path}", sandbox)


def _crashed(path: Path, why: str, sandbox: bool) -> "Verdict":
    from chaos_runner.run import SECTION
    from chaos_runner.verdict import judge

    journal: dict[str, Any] = {
        "experiment": {"title": path.stem},
        "status": "failed",
        "deviated": False,
        "run": [],
        "steady_states": {},
        SECTION: {
            "version": 2,
            "target": "unknown (the run left no journal)",
            "restore_complete": sandbox,
            "faults": [],
            "problems": [{"kind": "internal", "activity": "chaos run", "message": why, "at": 0}],
        },
    }
    return judge(journal)
