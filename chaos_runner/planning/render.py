"""Plans for a person (text) and for tools (JSON)."""

import dataclasses
import textwrap
from collections.abc import Sequence
from typing import Any

from chaos_runner import iam
from chaos_runner.planning.experiment import ExperimentPlan, PlannedMutation, PlannedProbe

__all__ = ["NOTHING_CHANGED", "as_json", "as_text"]

#: The last line of every plan: what ``chaos plan`` did not do.
NOTHING_CHANGED = "Nothing was changed: no fault ran, no lock was taken, no ledger was written."
_WIDTH = 100


def as_text(plan: ExperimentPlan) -> str:
    """One experiment's plan, for a person to read before the run."""
    lines = [f"{plan.path}: {plan.title}"]
    lines += _field("target", plan.target, 2)
    lines += _field("pages", plan.pages, 2)
    for number, control in enumerate(plan.controls):
        lines += _field("controls" if number == 0 else "", control, 2)
    lines += ["", f"  Mutations, in order ({len(plan.mutations)}):"]
    lines += [
        line for m, mutation in enumerate(plan.mutations, 1) for line in _mutation(m, mutation)
    ]
    if not plan.mutations:
        lines.append("    none: this experiment changes nothing on the target")
    lines += ["", "  Probes and the load they send to the site:"]
    lines += _probes(plan.probes)
    count, exact = plan.total_requests
    lines += _wrapped(
        f"Total: {'at most' if exact else 'at least'} {count:,} requests to the site over the "
        "run (the steady state's counted twice)"
        + ("" if exact else ", plus those of the probes whose count is not known")
        + ".",
        4,
    )
    document = iam.policy(plan.grants)
    lines += ["", "  IAM policy (least privilege; `chaos plan --iam FILE` writes it as JSON):"]
    lines += [line for statement in document["Statement"] for line in _statement(statement)]
    if not document["Statement"]:
        lines.append("    none: the run calls no AWS API that needs a permission")
    if plan.notes:
        lines += ["", "  Notes:"]
        lines += [line for note in plan.notes for line in _wrapped(f"- {note}", 4, 6)]
    return "\n".join(lines)


def _mutation(number: int, mutation: PlannedMutation) -> list[str]:
    step = mutation.step
    lines = [f"    {number}. {step.name}, {step.where} ({step.function})"]
    reversible = (
        f"yes: {mutation.restore}. Restored by: {'; '.join(mutation.restored_by)}"
        if mutation.reversible
        else f"no: {mutation.restore}"
    )
    for label, text in (
        ("resource", mutation.resource),
        ("what", mutation.what),
        ("change", mutation.change),
        ("blast radius", mutation.blast_radius),
        ("reversible", reversible),
        ("takes effect", mutation.takes_effect),
    ):
        lines += _field(label, text, 7, 14)
    return lines


def _probes(probes: Sequence[PlannedProbe]) -> list[str]:
    lines: list[str] = []
    phase = ""
    for probe in probes:
        step = probe.step
        if step.phase != phase:
            phase = step.phase
            heading = {
                "steady state": "steady state (checked before and after the method)",
                "rollbacks": "rollbacks (after the method)",
            }.get(phase, phase)
            lines.append(f"    {heading}:")
        background = " (in the background)" if step.background else ""
        lines.append(f"      {step.name}{background}: {step.function}")
        calls = f"; calls {', '.join(probe.aws)}" if probe.aws else ""
        lines += _wrapped(f"{probe.load.words}{calls}", 8)
    return lines


def _statement(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    on = resources if isinstance(resources, str) else ", ".join(resources)
    return _wrapped(f"{statement['Sid']}: {', '.join(statement['Action'])} on {on}", 4, 8)


def _field(label: str, text: str, indent: int, width: int = 9) -> list[str]:
    head = " " * indent + f"{label:<{width}} "
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_on_hyphens=False,
        break_long_words=False,
    ) or [head.rstrip()]


def _wrapped(text: str, indent: int, hanging: int | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent if hanging is None else hanging),
        break_on_hyphens=False,
        break_long_words=False,
    )


def as_json(plans: Sequence[ExperimentPlan], policy: dict[str, Any]) -> dict[str, Any]:
    """Every plan, and the policy that allows all of their runs."""
    documents = []
    for plan in plans:
        count, exact = plan.total_requests
        documents.append(
            {
                "path": plan.path,
                "title": plan.title,
                "target": plan.target,
                "pages": plan.pages,
                "controls": list(plan.controls),
                "mutations": [dataclasses.asdict(m) for m in plan.mutations],
                "probes": [dataclasses.asdict(p) for p in plan.probes],
                "requests": {"total": count, "exact": exact},
                "notes": list(plan.notes),
                "policy": iam.policy(plan.grants),
            }
        )
    return {"experiments": documents, "policy": policy, "changed": "nothing"}
