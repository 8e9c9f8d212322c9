"""Control: the run's Prometheus metrics (:mod:`chaos_runner.metrics`), pushed, written, served.

With no sink configured it does nothing at all. With one or more:

- before the experiment (``configure_control``): a registry for the run, labelled by the
  experiment (the ``experiment_name`` argument, else the name of the file `chaos run` was
  given without its extension, else the title in kebab-case) and the target (``sandbox``,
  or the distribution id), with a ``chaos_cdn_fault_injected`` series at 0 for each fault
  the method declares; the /metrics endpoint starts, and the first state is pushed and
  written;
- after each action of ours (a fault, a restore): each fault's state is read from this
  run's ledger entries (1 from the injection's ``open`` to its ``restored``), then pushed
  and written;
- after the experiment (declared after ``safety``, it runs once the safety control has
  restored every fault and written the journal's ``chaostoolkit-cdn`` section): the
  verdict (:func:`chaos_runner.verdict.judge` on the journal) gives the outcome, score,
  figures per phase, time to detect and to recover; everything is pushed (replacing the
  Pushgateway group) and written;
- at cleanup: the endpoint stops.

Nothing here can fail a run: a sink that fails says so in one log line and is off for the
rest of the run; an error of this control is logged and the run goes on.

Arguments (each falls back to its variable; empty: that sink is off): ``pushgateway``
(``CHAOS_PUSHGATEWAY``: ``http://host:9091``), ``textfile`` (``CHAOS_METRICS_TEXTFILE``: a
``.prom`` file in node_exporter's textfile directory), ``port`` (``CHAOS_METRICS_PORT``; 0
picks a free port), ``address`` (``CHAOS_METRICS_ADDRESS``, default 127.0.0.1),
``experiment_name`` (the ``experiment`` label). Declare it after the sandbox and safety
controls::

    controls:
      - name: metrics
        provider: {type: python, module: chaos_runner.controls.metrics}
"""

import logging
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from chaos_runner import run
from chaos_runner._errors import ChaosRunnerError
from chaos_runner.metrics import RunMetrics, RunSinks, SinkSettings, slug
from chaos_runner.target import Target

__all__ = [
    "after_activity_control",
    "after_experiment_control",
    "cleanup_control",
    "configure_control",
]

logger = logging.getLogger("chaostoolkit")

_FAULTS_PACKAGE = "chaos_runner.faults."
_RESTORE_MODULE = "chaos_runner.faults.ledger"
#: Ledger states in which a fault is still in effect.
_INJECTED_STATES = frozenset({"open", "conflict"})


class _Run:
    """What this control keeps for the run in progress."""

    def __init__(self, sinks: RunSinks, fault_labels: dict[str, str]) -> None:
        self.sinks = sinks
        self.metrics = sinks.metrics
        #: The label of each fault action, by the action's name.
        self.fault_labels = fault_labels
        #: The label of each ledger entry of this run, from the action that injected it.
        self.entries: dict[str, str] = {}


# Global state, in one labelled place: the metrics of the run this process executes (one
# at a time, as the run context of chaos_runner.run).
_current: _Run | None = None


def configure_control(
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    experiment: dict[str, Any] | None = None,
    pushgateway: str | None = None,
    textfile: str | None = None,
    port: str | int | None = None,
    address: str | None = None,
    experiment_name: str | None = None,
) -> None:
    """Open the run's metrics and sinks (nothing when no sink is configured)."""
    global _current  # noqa: PLW0603 - the labelled run state above
    _close_previous()
    sink_settings = SinkSettings.resolve(pushgateway, textfile, port, address)
    if not sink_settings.any:
        for problem in sink_settings.problems:
            logger.warning(f"Metrics: {problem}")
        return
    try:
        declared = experiment or {}
        fault_labels = _fault_labels(declared)
        metrics = RunMetrics(
            _experiment_label(experiment_name, declared),
            _target_label(Target.resolve(configuration)),
            sorted(set(fault_labels.values())),
        )
        metrics.start()
        sinks = RunSinks(metrics, sink_settings)
        _current = _Run(sinks, fault_labels)
        sinks.open()
    except Exception:
        logger.exception("Metrics: the metrics control could not start; the run goes on.")


def after_activity_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """After a fault or a restore of ours, each fault's state from this run's ledger entries."""
    current = _current
    if current is None or not isinstance(context, Mapping):
        return
    try:
        label = _fault_label(context)
        if label is None and _module(context) != _RESTORE_MODULE:
            return
        if label is not None:
            output = state.get("output") if isinstance(state, Mapping) else None
            entry = output.get("ledger_entry") if isinstance(output, Mapping) else None
            if isinstance(entry, str) and entry:
                current.entries[entry] = label
        _faults_from_ledger(current, label)
        current.sinks.update()
    except Exception:
        logger.exception("Metrics: the fault metrics could not be updated; the run goes on.")


def after_experiment_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """The run is over: the verdict's figures, then everything pushed and written."""
    current = _current
    if current is None:
        return
    try:
        _finish(current, state)
    except ChaosRunnerError as error:
        logger.warning(f"Metrics: this run has no verdict ({error}); only its end is sent.")
        current.metrics.abandon()
    except Exception:
        logger.exception("Metrics: this run's verdict could not be turned into metrics.")
        current.metrics.abandon()
    try:
        current.sinks.flush()
    except Exception:
        logger.exception("Metrics: this run's metrics could not be sent.")


def cleanup_control() -> None:
    """Stop the /metrics endpoint; a run that ended without its verdict says it is over."""
    _close_previous()


def _close_previous() -> None:
    global _current
    current, _current = _current, None
    if current is None:
        return
    try:
        if not current.metrics.finished:
            current.metrics.abandon()
        current.sinks.flush()
        current.sinks.stop_serving()
    except Exception:
        logger.exception("Metrics: the metrics control could not stop cleanly.")


def _finish(current: _Run, journal: Any) -> None:
    from chaos_runner.verdict import judge

    if not isinstance(journal, Mapping):
        current.metrics.abandon()
        return
    verdict = judge(journal)
    for fault in verdict.faults:
        label = current.entries.get(fault.entry or "") or current.fault_labels.get(fault.name)
        if label is None:
            continue
        current.metrics.fault(
            label,
            injected=fault.state in _INJECTED_STATES,
            injected_at=fault.injected_at,
            restored_at=fault.restored_at,
        )
    current.metrics.finish(verdict)


def _faults_from_ledger(current: _Run, acting: str | None) -> None:
    """Each fault of this run: injected while one of its ledger entries is open.

    An entry no action's output names (a fault that failed after writing its undo record)
    is the fault of the action that just ran.
    """
    from chaos_runner.ledger import Ledger

    run_id = run.current_run_id()
    if not run_id:
        return
    entries, _ = Ledger().salvage()
    by_label: dict[str, list[Any]] = {}
    for entry in entries:
        if entry.run_id != run_id:
            continue
        label = current.entries.get(entry.id)
        if label is None and acting is not None:
            label = current.entries[entry.id] = acting
        if label is not None:
            by_label.setdefault(label, []).append(entry)
    for label, mine in by_label.items():
        injected = any(str(e.state) in _INJECTED_STATES for e in mine)
        closed = [e.closed_at for e in mine if e.closed_at is not None]
        current.metrics.fault(
            label,
            injected=injected,
            injected_at=max(e.created_at for e in mine),
            restored_at=max(closed) if closed and not injected else None,
        )


def _module(activity: Mapping[str, Any]) -> str:
    provider = activity.get("provider")
    if not isinstance(provider, Mapping) or provider.get("type") != "python":
        return ""
    return str(provider.get("module") or "")


def _fault_label(activity: Mapping[str, Any]) -> str | None:
    """``cloudfront.disable_distribution`` for one of our fault actions, else None."""
    module = _module(activity)
    if activity.get("type") != "action" or not module.startswith(_FAULTS_PACKAGE):
        return None
    if module == _RESTORE_MODULE:
        return None
    provider = activity["provider"]
    return f"{module.removeprefix(_FAULTS_PACKAGE)}.{provider.get('func', '')}"


def _fault_labels(experiment: Mapping[str, Any]) -> dict[str, str]:
    """The label of each fault action of the method, by the action's name."""
    labels = {}
    for activity in experiment.get("method") or []:
        if isinstance(activity, Mapping):
            label = _fault_label(activity)
            if label is not None:
                labels[str(activity.get("name", ""))] = label
    return labels


def _experiment_label(argument: str | None, experiment: Mapping[str, Any]) -> str:
    """The ``experiment`` label: the argument, the file's name run by `chaos run`, the title."""
    if argument:
        return str(argument)
    source = _chaos_run_source()
    if source:
        stem = PurePosixPath(urlsplit(source).path).stem
        if stem:
            return stem
    return slug(str(experiment.get("title") or ""))


def _chaos_run_source() -> str:
    """The SOURCE of `chaos run SOURCE` in this process, or ""."""
    try:
        import click

        context = click.get_current_context(silent=True)
    except Exception:
        return ""
    while context is not None:
        source = context.params.get("source")
        if isinstance(source, str):
            return source
        context = context.parent
    return ""


def _target_label(target: Target) -> str:
    """``sandbox`` (whatever its ports and distribution id), else the distribution id.

    A sandbox's distribution id changes with its state directory (a gate gives each run a
    new one), so it never becomes a label: the series would grow with every gate.
    """
    if target.is_sandbox:
        return "sandbox"
    if target.distribution_id:
        return target.distribution_id
    host = urlsplit(target.site_url).hostname if target.site_url else None
    return host or "unknown"
