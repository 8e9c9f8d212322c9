"""``chaos plan``: what experiments would change, the load they send, the policy they need.

A plan changes nothing: no fault runs, no lock is taken, no ledger is written. It reads the
experiment files, the declarations of their activities (:mod:`chaos_runner.iam`: the
faults declare themselves, the probes are declared in :mod:`.catalogue`) and, read only,
the target (:mod:`.survey`). For each experiment (:class:`ExperimentPlan`): every mutation
in order (the resource, what changes, the blast radius, how it is restored, how long it
takes to take effect), the probes and the load they send, and the grants of the
least-privilege IAM policy that allows exactly that run; :func:`combined_policy` joins the
grants of several experiments into one policy.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import chaos_runner.faults  # noqa: F401  (registers the faults' declarations)
from chaos_runner import iam
from chaos_runner._errors import ConfigurationError
from chaos_runner.planning import catalogue  # noqa: F401  (registers the probes' declarations)
from chaos_runner.planning.experiment import (
    ExperimentPlan,
    PlannedMutation,
    PlannedProbe,
    Step,
    plan_experiment,
)
from chaos_runner.planning.survey import Survey
from chaos_runner.target import TARGET_VARIABLES, configured_value

__all__ = [
    "ExperimentPlan",
    "PlannedMutation",
    "PlannedProbe",
    "Step",
    "combined_policy",
    "plan_experiments",
]


def plan_experiments(paths: Sequence[str]) -> list[ExperimentPlan]:
    """The plan of every experiment ``paths`` names (files, or directories of them).

    Raises ConfigurationError (one sentence) for a file that is not a valid experiment and
    for a target that does not exist or cannot be read.
    """
    from chaoslib.loader import load_experiment

    from chaos_runner import engine

    files = engine.discover(list(paths))
    surveys: dict[tuple[str, ...], Survey] = {}

    def survey_of(configuration: Mapping[str, Any]) -> Survey:
        key = tuple(configured_value(v, configuration) for v in TARGET_VARIABLES)
        if key not in surveys:
            surveys[key] = Survey.of(configuration)
        return surveys[key]

    plans = []
    for path in files:
        problem = engine.validate(path)
        if problem:
            raise ConfigurationError(problem)
        experiment = load_experiment(str(path))
        plans.append(plan_experiment(Path(path), experiment, survey_of))
    return plans


def combined_policy(plans: Sequence[ExperimentPlan]) -> dict[str, Any]:
    """One policy that allows every run of ``plans`` (each grant once)."""
    return iam.policy(grant for plan in plans for grant in plan.grants)
