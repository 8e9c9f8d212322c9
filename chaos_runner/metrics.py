"""Prometheus metrics of chaos runs: the names, a registry per run, and where they go.

Every run of an experiment that declares the ``metrics`` control (the experiments in
experiments/ do) fills a :class:`RunMetrics`: a prometheus-client
``CollectorRegistry`` of its own (never the process's default registry), labelled by
``experiment`` (the experiment file's name without its extension, unless the control
names it) and ``target``
(``sandbox``, or the distribution id of a real target). Nothing identifies the run itself:
each run of an experiment on a target overwrites the series of the previous one, so the
number of series is bounded by experiments x targets x faults, however often they run.

Sinks (each off unless configured; :class:`RunSinks`)
    - a Pushgateway (``CHAOS_PUSHGATEWAY``): grouping key ``job="chaostoolkit-cdn"``,
      ``experiment``, ``target``. During the run only the live metrics are pushed (POST:
      the previous run's verdict stays in the group until this run has its own); at the end
      the whole registry replaces the group (PUT). Pushes happen in a thread of their own,
      bounded by a timeout, so a slow gateway never delays a fault or a probe; the first
      failure is said in one log line and the run pushes nothing more.
    - a textfile for node_exporter's textfile collector (``CHAOS_METRICS_TEXTFILE``):
      written atomically (a temporary file in the same directory, then a rename), under a
      lock, and merged like a Pushgateway group: the file keeps the series of the other
      experiments and targets, so one file can serve a whole gate.
    - an HTTP ``/metrics`` endpoint while the run is in progress (``CHAOS_METRICS_PORT``,
      on ``CHAOS_METRICS_ADDRESS``, 127.0.0.1 by default). A port already taken (two runs
      at once given the same port) is said in one line; the run goes on without it.
    For a gate, :func:`serving` serves a gate-level registry (:class:`GateMetrics`).

Why there is no ``chaos_cdn_runs_total``
    A counter only means something across the life of one registry. Here each run has a
    registry of its own, and a Pushgateway (or a textfile) keeps the last push per grouping
    key: a pushed ``runs_total`` would read 1 after every run, and ``increase()`` would never
    see it grow. Reading the previous value back to add one would couple runs to each other
    (a race between parallel runs, a gateway restart resetting history) and break the
    promise that a run with an unreachable gateway behaves as before. So a run exports
    gauges of its last state, which is what a Pushgateway can hold truthfully:
    ``chaos_cdn_run_outcome{outcome}`` (1 for the outcome of the last run, 0 for each other
    outcome: a StateSet, exposed as gauges), ``chaos_cdn_run_exit_code`` and
    ``chaos_cdn_last_run_timestamp_seconds``. Prometheus, which scrapes them, keeps the
    history: outcomes over time are the outcome gauge over time, and the runs of a period
    are ``changes(chaos_cdn_last_run_timestamp_seconds[1d])`` (each run moves it; runs closer
    together than the scrape interval count once). The gate's endpoint, one registry for
    the life of the gate process, does export a true counter
    (``chaos_cdn_gate_experiments_done_total{outcome}``).

The run's metrics (every one a gauge, labels ``experiment`` and ``target`` plus those shown)
    ========================================================  ==================================
    ``chaos_cdn_run_in_progress``                             1 from the start to the end
    ``chaos_cdn_run_start_timestamp_seconds``                 when the run started
    ``chaos_cdn_fault_injected{fault}``                       1 while the fault is injected
    ``chaos_cdn_fault_injected_timestamp_seconds{fault}``     when it was last injected
    ``chaos_cdn_fault_restored_timestamp_seconds{fault}``     when it was last restored
    ``chaos_cdn_run_outcome{outcome}``                        1: the outcome of the last run
    ``chaos_cdn_run_exit_code``                               its exit code (0 held ... 70)
    ``chaos_cdn_run_duration_seconds``                        how long the experiment ran
    ``chaos_cdn_last_run_timestamp_seconds``                  when the last run ended
    ``chaos_cdn_resilience_score_ratio``                      the score / 100 (1: every check)
    ``chaos_cdn_availability_ratio{phase}``                   served / requests, per phase
    ``chaos_cdn_latency_p95_seconds{phase}``                  the worst p95 of the phase
    ``chaos_cdn_latency_p99_seconds{phase}``                  the worst p99 of the phase
    ``chaos_cdn_time_to_detect_seconds``                      first injection to first failure
    ``chaos_cdn_time_to_recover_seconds``                     last restore to a healthy site
    ========================================================  ==================================

    The first five are live (updated while the run goes on); the others come from the run's
    verdict (:func:`chaos_runner.verdict.judge`) at its end. ``fault`` is the fault's
    function (``cloudfront.disable_distribution``); ``phase`` is ``before``, ``during`` or
    ``after``; a figure nobody measured (latency when the phase had no load probe, time to
    detect when no watch probe ran or the fault never reached readers) has no series. A
    fault is injected while one of its ledger entries is ``open`` or in ``conflict``: one
    whose restore failed stays at 1 after its run (until the experiment runs again).
"""

import contextlib
import logging
import math
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import (
    generate_latest,
    push_to_gateway,
    pushadd_to_gateway,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from chaos_runner._errors import ConfigurationError
from chaos_runner.target import is_loopback_url
from chaos_runner.verdict import Outcome, Verdict, overall_score

if sys.platform != "win32":
    import fcntl

__all__ = [
    "ADDRESS_VARIABLE",
    "DEFAULT_ADDRESS",
    "JOB",
    "LIVE_METRICS",
    "PORT_VARIABLE",
    "PUSHGATEWAY_VARIABLE",
    "PUSH_TIMEOUT_S",
    "TEXTFILE_VARIABLE",
    "GateMetrics",
    "MetricsServer",
    "Pushgateway",
    "RunMetrics",
    "RunSinks",
    "SinkSettings",
    "Textfile",
    "serve",
    "serving",
    "slug",
]

logger = logging.getLogger("chaostoolkit")

#: The Pushgateway's ``job`` label of every run's group.
JOB = "chaostoolkit-cdn"
PUSHGATEWAY_VARIABLE = "CHAOS_PUSHGATEWAY"
TEXTFILE_VARIABLE = "CHAOS_METRICS_TEXTFILE"
PORT_VARIABLE = "CHAOS_METRICS_PORT"
ADDRESS_VARIABLE = "CHAOS_METRICS_ADDRESS"
#: Where the /metrics endpoints listen unless told otherwise: this machine only.
DEFAULT_ADDRESS = "127.0.0.1"
#: Longest a push may take; a gateway that does not answer in time is given up for the run.
PUSH_TIMEOUT_S = 3.0
#: Longest the end of a run waits for a push still in flight before its own final push.
_FLUSH_WAIT_S = PUSH_TIMEOUT_S + 1.0

_RUN_LABELS = ("experiment", "target")

#: The metrics a run updates while it goes on (pushed with POST during the run).
LIVE_METRICS = (
    "chaos_cdn_run_in_progress",
    "chaos_cdn_run_start_timestamp_seconds",
    "chaos_cdn_fault_injected",
    "chaos_cdn_fault_injected_timestamp_seconds",
    "chaos_cdn_fault_restored_timestamp_seconds",
)


def slug(text: str) -> str:
    """``A disabled distribution comes back`` -> ``a-disabled-distribution-comes-back``."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:80].rstrip("-") or "unnamed"


class _Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class _WithSamples:
    """Only the families that have samples (a labelled gauge never set has none)."""

    def __init__(self, source: _Collector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return (metric for metric in self._source.collect() if metric.samples)


class RunMetrics:
    """One run's metrics, in a registry of its own (see the module doc for the names)."""

    def __init__(self, experiment: str, target: str, faults: Iterable[str] = ()) -> None:
        self.experiment = experiment
        self.target = target
        self.registry = CollectorRegistry()
        self._finished = False

        def gauge(name: str, documentation: str, *labels: str) -> Gauge:
            return Gauge(name, documentation, [*_RUN_LABELS, *labels], registry=self.registry)

        self._in_progress = gauge(
            "chaos_cdn_run_in_progress", "1 while a run of the experiment is in progress."
        )
        self._started = gauge(
            "chaos_cdn_run_start_timestamp_seconds", "When the last run started (Unix time)."
        )
        self._fault = gauge(
            "chaos_cdn_fault_injected",
            "1 while the fault is injected (from its injection to its verified restore).",
            "fault",
        )
        self._fault_injected_at = gauge(
            "chaos_cdn_fault_injected_timestamp_seconds",
            "When the fault was last injected (Unix time).",
            "fault",
        )
        self._fault_restored_at = gauge(
            "chaos_cdn_fault_restored_timestamp_seconds",
            "When the fault was last restored (Unix time).",
            "fault",
        )
        self._outcome = gauge(
            "chaos_cdn_run_outcome",
            "1 for the outcome of the last run, 0 for every other outcome.",
            "outcome",
        )
        self._exit_code = gauge(
            "chaos_cdn_run_exit_code",
            "Exit code of the last run's verdict: 0 held, 1 deviated, 2 invalid, "
            "3 inconclusive, 4 restore incomplete, 5 aborted, 70 internal error.",
        )
        self._duration = gauge(
            "chaos_cdn_run_duration_seconds", "How long the last run of the experiment took."
        )
        self._last_run = gauge(
            "chaos_cdn_last_run_timestamp_seconds", "When the last run ended (Unix time)."
        )
        self._score = gauge(
            "chaos_cdn_resilience_score_ratio",
            "Resilience score of the last run: the share of its checks that held (1: all).",
        )
        self._availability = gauge(
            "chaos_cdn_availability_ratio",
            "Share of the probes' requests answered 200-399, per phase of the last run.",
            "phase",
        )
        self._p95 = gauge(
            "chaos_cdn_latency_p95_seconds",
            "Worst 95th percentile latency of the phase's load probes in the last run.",
            "phase",
        )
        self._p99 = gauge(
            "chaos_cdn_latency_p99_seconds",
            "Worst 99th percentile latency of the phase's load probes in the last run.",
            "phase",
        )
        self._detect = gauge(
            "chaos_cdn_time_to_detect_seconds",
            "From the first injection to the first unhealthy sample of the watch probe.",
        )
        self._recover = gauge(
            "chaos_cdn_time_to_recover_seconds",
            "From the last restore to a healthy site, by the watch probe.",
        )
        for fault in faults:
            self._fault.labels(**self.group, fault=fault).set(0)

    @property
    def group(self) -> dict[str, str]:
        """The labels of every series of the run (and the Pushgateway's grouping key)."""
        return {"experiment": self.experiment, "target": self.target}

    @property
    def finished(self) -> bool:
        """True once :meth:`finish` or :meth:`abandon` has run."""
        return self._finished

    def start(self, at: float | None = None) -> None:
        """The run has started."""
        self._in_progress.labels(**self.group).set(1)
        self._started.labels(**self.group).set(time.time() if at is None else at)

    def fault(
        self,
        fault: str,
        injected: bool,
        injected_at: float | None = None,
        restored_at: float | None = None,
    ) -> None:
        """Where one fault stands: injected (1) or not (0), and when."""
        self._fault.labels(**self.group, fault=fault).set(1 if injected else 0)
        if injected_at is not None:
            self._fault_injected_at.labels(**self.group, fault=fault).set(injected_at)
        if restored_at is not None and not injected:
            self._fault_restored_at.labels(**self.group, fault=fault).set(restored_at)

    def finish(self, verdict: Verdict, at: float | None = None) -> None:
        """The run is over: its verdict's outcome, score, figures and times."""
        group = self.group
        for outcome in Outcome:
            value = 1.0 if outcome is verdict.outcome else 0.0
            self._outcome.labels(**group, outcome=str(outcome)).set(value)
        self._exit_code.labels(**group).set(verdict.exit_code)
        self._score.labels(**group).set(verdict.score / 100)
        if verdict.duration_s is not None:
            self._duration.labels(**group).set(verdict.duration_s)
        for figures in verdict.phases:
            phase = str(figures.phase)
            if figures.availability is not None:
                self._availability.labels(**group, phase=phase).set(figures.availability)
            if figures.p95_ms is not None:
                self._p95.labels(**group, phase=phase).set(figures.p95_ms / 1000)
            if figures.p99_ms is not None:
                self._p99.labels(**group, phase=phase).set(figures.p99_ms / 1000)
        if verdict.time_to_detect_s is not None:
            self._detect.labels(**group).set(verdict.time_to_detect_s)
        if verdict.time_to_recover_s is not None:
            self._recover.labels(**group).set(verdict.time_to_recover_s)
        self._last_run.labels(**group).set(time.time() if at is None else at)
        self.abandon()

    def abandon(self) -> None:
        """The run is over (without a verdict, when none could be formed)."""
        self._in_progress.labels(**self.group).set(0)
        self._finished = True

    def live(self) -> _Collector:
        """The metrics updated during the run (those with samples)."""
        return _WithSamples(self.registry.restricted_registry(LIVE_METRICS))

    def complete(self) -> _Collector:
        """Every metric with samples."""
        return _WithSamples(self.registry)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


# -- sinks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Where a run's metrics go; empty/None: that sink is off."""

    pushgateway: str = ""
    textfile: str = ""
    port: int | None = None
    address: str = DEFAULT_ADDRESS
    #: Why a setting was refused (e.g. a port that is not a number), said once by the run.
    problems: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        """True when at least one sink is on."""
        return bool(self.pushgateway or self.textfile or self.port is not None)

    @classmethod
    def resolve(
        cls,
        pushgateway: Any = None,
        textfile: Any = None,
        port: Any = None,
        address: Any = None,
        environ: Mapping[str, str] | None = None,
    ) -> "SinkSettings":
        """From the control's arguments first, else the environment variables."""
        env = os.environ if environ is None else environ

        def pick(argument: Any, variable: str) -> str:
            value = argument if argument not in (None, "") else env.get(variable, "")
            return str(value).strip()

        problems = []
        port_text = pick(port, PORT_VARIABLE)
        number: int | None = None
        if port_text:
            try:
                number = int(port_text)
                if not 0 <= number <= 65535:
                    raise ValueError(port_text)
            except ValueError:
                number = None
                problems.append(
                    f"{PORT_VARIABLE} must be a port number (0-65535); got {port_text!r}: "
                    "no /metrics endpoint for this run."
                )
        return cls(
            pushgateway=pick(pushgateway, PUSHGATEWAY_VARIABLE),
            textfile=pick(textfile, TEXTFILE_VARIABLE),
            port=number,
            address=pick(address, ADDRESS_VARIABLE) or DEFAULT_ADDRESS,
            problems=tuple(problems),
        )


class Pushgateway:
    """Pushes to a Pushgateway from a thread of its own; the first failure ends the pushes.

    :meth:`request` asks for a push of the live metrics (POST) and returns at once; pushes
    asked for while one is in flight are merged into one. :meth:`close` waits (bounded) for
    the pushes in flight, then pushes the whole registry (PUT), in the caller's thread.
    """

    def __init__(self, url: str, metrics: RunMetrics, timeout: float = PUSH_TIMEOUT_S) -> None:
        self.url = url
        self._metrics = metrics
        self._timeout = timeout
        self._wanted = threading.Event()
        self._closing = threading.Event()
        self._failed = threading.Event()
        self._lock = threading.Lock()  # one push at a time
        self._said = threading.Lock()  # one line for the first failure
        self._thread = threading.Thread(target=self._loop, name="metrics-push", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        """True once a push has failed (nothing more is pushed)."""
        return self._failed.is_set()

    def request(self) -> None:
        """Push the live metrics soon (in the pusher's thread)."""
        if not self._closing.is_set():
            self._wanted.set()

    def close(self) -> bool:
        """Wait for the pushes in flight, then push everything; True when it was pushed."""
        self._closing.set()
        self._wanted.set()
        self._thread.join(_FLUSH_WAIT_S)
        return self._push(replace=True)

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._closing.is_set():
                return
            self._wanted.clear()
            self._push(replace=False)

    def _push(self, replace: bool) -> bool:
        if self._failed.is_set():
            return False
        if not self._lock.acquire(timeout=_FLUSH_WAIT_S):
            self._fail(f"a push still waits for an answer after {_FLUSH_WAIT_S:.0f} s")
            return False
        try:
            if self._failed.is_set():
                return False
            if replace:
                push_to_gateway(
                    self.url,
                    JOB,
                    self._metrics.complete(),
                    self._metrics.group,
                    timeout=self._timeout,
                    handler=_closing_handler,
                )
            else:
                pushadd_to_gateway(
                    self.url,
                    JOB,
                    self._metrics.live(),
                    self._metrics.group,
                    timeout=self._timeout,
                    handler=_closing_handler,
                )
        except Exception as error:
            self._fail(_reason(error))
            return False
        finally:
            self._lock.release()
        return True

    def _fail(self, reason: str) -> None:
        """Stop pushing; say why in one log line (the first failure only)."""
        with self._said:
            if self._failed.is_set():
                return
            self._failed.set()
        logger.warning(
            f"Metrics: the Pushgateway at {self.url} could not take this run's metrics "
            f"({reason}); the run goes on without pushing them."
        )


def _closing_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
) -> Callable[[], None]:
    """prometheus-client's default push handler, closing its connection (it leaves it open);
    a Pushgateway on loopback is never reached through a proxy of the environment."""

    def handle() -> None:
        request = urllib.request.Request(url, data=data, method=method)
        for name, value in headers:
            request.add_header(name, value)
        proxies: dict[str, str] | None = {} if is_loopback_url(url) else None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            body = error.read(200).decode("utf-8", "replace").strip()
            error.close()
            raise OSError(f"the Pushgateway answered {error.code} {error.reason}: {body}") from None

    return handle


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    text = str(reason if reason is not None else error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


class Textfile:
    """A file for node_exporter's textfile collector, merged like a Pushgateway group.

    Each write replaces this run's series (its experiment and target) and keeps the rest:
    with ``live``, only the families the run updates while it goes on; otherwise all of the
    run's. The file is written to a temporary file in the same directory, then renamed over
    the old one (atomic), while a lock (``.NAME.lock`` beside it) keeps parallel runs from
    losing each other's writes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, metrics: RunMetrics, live: bool = False) -> None:
        """Write the run's metrics into the file (raises OSError/ValueError on failure)."""
        ours = list((metrics.live() if live else metrics.complete()).collect())
        replaced = {metric.name for metric in ours} if live else None
        with self._locked():
            kept = self._kept(metrics.group, replaced)
            merged = _merge(kept, ours)
            self._replace(generate_latest(_Families(merged)))

    def _kept(self, group: Mapping[str, str], replaced: set[str] | None) -> list[Metric]:
        """The file's families, without this run's series that this write replaces."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        kept = []
        for family in text_string_to_metric_families(text):
            mine = replaced is None or family.name in replaced
            samples = [
                s
                for s in family.samples
                if not (mine and all(s.labels.get(k) == v for k, v in group.items()))
            ]
            if samples:
                copy = Metric(family.name, family.documentation, family.type, family.unit)
                copy.samples = samples
                kept.append(copy)
        return kept

    def _replace(self, content: bytes) -> None:
        directory = self.path.parent
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)  # node_exporter may run as another user
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.parent / f".{self.path.name}.lock"
        with open(lock, "a+b") as handle:
            if sys.platform != "win32":
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def _merge(kept: list[Metric], ours: list[Metric]) -> list[Metric]:
    """One family per name: this run's samples added to those kept, ours' help and type."""
    merged: dict[str, Metric] = {}
    for family in [*ours, *kept]:
        if family.name not in merged:
            merged[family.name] = Metric(
                family.name, family.documentation, family.type, family.unit
            )
        merged[family.name].samples.extend(family.samples)
    return sorted(merged.values(), key=lambda family: family.name)


class MetricsServer:
    """A /metrics endpoint on a thread of its own; :meth:`close` stops it."""

    def __init__(self, registry: CollectorRegistry, port: int, address: str) -> None:
        server, thread = start_http_server(port, addr=address, registry=registry)
        self._server = server
        self._thread = thread
        self.port = int(server.server_port)
        host = f"[{address}]" if ":" in address else address
        self.url = f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (idempotent)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(registry: CollectorRegistry, port: int, address: str = DEFAULT_ADDRESS) -> MetricsServer:
    """Serve ``registry`` on ``address:port`` (0: a free port); ConfigurationError if it cannot."""
    try:
        return MetricsServer(registry, port, address)
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            f"Cannot serve metrics on {address}:{port} ({_reason(error)})."
        ) from error


@dataclass(slots=True)
class RunSinks:
    """The sinks of one run: what the control updates and closes.

    Every failure is said once, in one log line, and turns that sink off for the run; none
    ever raises into the run.
    """

    metrics: RunMetrics
    settings: SinkSettings
    pushgateway: Pushgateway | None = None
    textfile: Textfile | None = None
    server: MetricsServer | None = None
    _said: set[str] = field(default_factory=set)

    def open(self) -> None:
        """Start the sinks that are on; push and write the run's first state."""
        for problem in self.settings.problems:
            logger.warning(f"Metrics: {problem}")
        if self.settings.port is not None:
            try:
                self.server = serve(
                    self.metrics.registry, self.settings.port, self.settings.address
                )
                logger.info(f"Metrics: this run's metrics are served at {self.server.url}.")
            except ConfigurationError as error:
                logger.warning(f"Metrics: {error} The run goes on without the endpoint.")
        if self.settings.textfile:
            self.textfile = Textfile(self.settings.textfile)
        if self.settings.pushgateway:
            self.pushgateway = Pushgateway(self.settings.pushgateway, self.metrics)
        self.update()

    def update(self) -> None:
        """The live metrics changed: push them, write them."""
        if self.pushgateway is not None:
            self.pushgateway.request()
        self._write(live=True)

    def flush(self) -> None:
        """The run is over: push and write everything (the endpoint serves on until
        :meth:`stop_serving`); idempotent."""
        if self.pushgateway is not None:
            pushed = self.pushgateway.close()
            if pushed:
                labels = ", ".join(f'{k}="{v}"' for k, v in self.metrics.group.items())
                logger.info(f'Metrics: pushed to {self.pushgateway.url} (job="{JOB}", {labels}).')
            self.pushgateway = None
        if self.textfile is not None and self._write(live=False):
            logger.info(f"Metrics: written to {self.textfile.path}.")
        self.textfile = None

    def stop_serving(self) -> None:
        """Stop the /metrics endpoint (idempotent)."""
        if self.server is not None:
            self.server.close()
            self.server = None

    def _write(self, live: bool) -> bool:
        if self.textfile is None:
            return False
        try:
            self.textfile.write(self.metrics, live=live)
        except (OSError, ValueError) as error:
            logger.warning(
                f"Metrics: the textfile {self.textfile.path} could not be written "
                f"({_reason(error)}); the run goes on without it."
            )
            self.textfile = None
            return False
        return True


# -- the gate ----------------------------------------------------------------------------------


class GateMetrics:
    """A gate's own metrics, in a registry of its own, for the life of the gate process.

    ``chaos_cdn_gate_experiments`` (gauge: experiments the gate runs),
    ``chaos_cdn_gate_runs_in_progress`` (gauge), ``chaos_cdn_gate_experiments_done_total``
    (counter by ``outcome``; every outcome starts at 0) and ``chaos_cdn_gate_score_ratio``
    (gauge: the weighted score of the verdicts so far / 100, once there is one); a game
    day adds what its observer sees: ``chaos_cdn_gameday_observed_availability_ratio`` and
    ``chaos_cdn_gameday_observed_p95_seconds``. Safe to call from worker threads.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.url = ""  # where it is served, when it is
        self._lock = threading.Lock()
        self._verdicts: list[Verdict] = []
        self._experiments = Gauge(
            "chaos_cdn_gate_experiments", "Experiments this gate runs.", registry=self.registry
        )
        self._running = Gauge(
            "chaos_cdn_gate_runs_in_progress",
            "Experiments of this gate running now.",
            registry=self.registry,
        )
        self._done = Counter(
            "chaos_cdn_gate_experiments_done",
            "Experiments of this gate that have ended, by the outcome of their verdict.",
            ["outcome"],
            registry=self.registry,
        )
        self._score = Gauge(
            "chaos_cdn_gate_score_ratio",
            "The gate's resilience score so far (contribution-weighted; 1: every check held).",
            registry=self.registry,
        )
        self._seen = Gauge(
            "chaos_cdn_gameday_observed_availability_ratio",
            "A game day's observer: share of its requests to the site served (200-399) over "
            "the last few seconds.",
            registry=self.registry,
        )
        self._seen_p95 = Gauge(
            "chaos_cdn_gameday_observed_p95_seconds",
            "A game day's observer: p95 of its requests to the site over the last few seconds.",
            registry=self.registry,
        )
        for outcome in Outcome:
            self._done.labels(outcome=str(outcome))

    def observed(self, availability: float | None, p95_ms: float | None) -> None:
        """What a game day's observer saw over its last window (None: nothing answered)."""
        self._seen.set(math.nan if availability is None else availability)
        self._seen_p95.set(math.nan if p95_ms is None else p95_ms / 1000)

    def planned(self, experiments: int) -> None:
        """The gate runs this many experiments."""
        self._experiments.set(experiments)

    def started(self, experiment: str) -> None:
        """An experiment has started."""
        self._running.inc()

    def finished(self, experiment: str, verdict: Verdict) -> None:
        """An experiment has ended with this verdict."""
        with self._lock:
            self._running.dec()
            self._done.labels(outcome=str(verdict.outcome)).inc()
            self._verdicts.append(verdict)
            score = overall_score(self._verdicts)
            if score is not None:
                self._score.set(score / 100)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


@contextlib.contextmanager
def serving(port: int | None, address: str = DEFAULT_ADDRESS) -> Iterator[GateMetrics]:
    """A gate's metrics, served at ``http://address:port/metrics`` until the block ends.

    ``port`` None: nothing is served (the metrics are still kept); 0: a free port (see
    ``GateMetrics.url``). Raises ConfigurationError, naming the address, when the port
    cannot be bound.
    """
    metrics = GateMetrics()
    server = None if port is None else serve(metrics.registry, port, address)
    if server is not None:
        metrics.url = server.url
    try:
        yield metrics
    finally:
        if server is not None:
            server.close()
