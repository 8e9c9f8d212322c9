"""The review as GitHub-flavoured Markdown."""

from chaos_runner.gameday.review._model import ExperimentReview, Review
from chaos_runner.gameday.review._words import (
    BLAMELESS,
    experiment_figures,
    fault_words,
    sample_words,
    surprise_words,
)
from chaos_runner.report import markdown
from chaos_runner.verdict import (
    Phase,
    format_seconds,
)

# -- Markdown --------------------------------------------------------------------------------


def _md_header(review: Review) -> list[str]:
    cell = markdown.cell
    lines = [
        f"- **Plan**: {cell(review.plan)}",
        f"- **Target**: {cell(review.target)}"
        + (f" ({cell(review.site_url)})" if review.site_url else ""),
        f"- **When**: {cell(review.when)}",
        f"- **Duration**: {cell(format_seconds(review.duration_s))}",
        f"- **Outcome**: {cell(review.outcome_words)}",
    ]
    if review.roles:
        roles = "; ".join(f"{role}: {who}" for role, who in review.roles)
        lines.append(f"- **Roles**: {cell(roles)}")
    if review.runbook:
        lines.append(f"- **Runbook**: {cell(review.runbook)}")
    lines.append(f"- **Run directory**: {cell(review.run_dir)}")
    return lines


def _md_expected(review: Review) -> list[str]:
    cell = markdown.cell
    lines = ["## What we expected", ""]
    lines += [
        f"> {cell(review.hypothesis)}" if review.hypothesis else "*The plan states no hypothesis.*",
        "",
    ]
    if review.description:
        lines += [cell(review.description), ""]
    lines += ["| # | experiment | steady-state hypothesis |", "|--:|---|---|"]
    lines += [
        f"| {e.index} | {cell(e.name)} | {cell(e.hypothesis or 'unknown (no journal)')} |"
        for e in review.experiments
    ]
    return [*lines, ""]


def _md_happened(review: Review) -> list[str]:
    cell = markdown.cell
    lines = ["## What happened", ""]
    lines += [f"| time ({cell(review.zone_abbreviation)}) | since start | experiment | event |"]
    lines += ["|---|--:|---|---|"]
    lines += [
        f"| {review.clock(e.at)} | {review.since(e.at)} | {cell(e.experiment or '')} | "
        f"{cell(e.text)} |"
        for e in review.events
    ]
    if not review.events:
        lines = [*lines[:2], "*The timeline holds no event.*"]
    lines += ["", f"{cell(sample_words(review))} The charts are in review.html.", ""]
    if review.faults:
        lines += ["**Faults in effect**", ""]
        lines += [
            f"- F{number} {cell(fault_words(review, span))}"
            for number, span in enumerate(review.faults, start=1)
        ]
        lines.append("")
    return lines


def _md_experiment(experiment: ExperimentReview) -> list[str]:
    cell = markdown.cell
    verdict = experiment.verdict
    head = f"### {experiment.index}. {cell(experiment.name)}: {cell(experiment.outcome_words)}"
    if verdict is None:
        return [head, "", f"Not judged: {cell(experiment.missing)}.", ""]
    score, _, _, ttd, ttr = experiment_figures(experiment)
    lines = [
        f"{head}, score {score}/100",
        "",
        f"*{cell(verdict.experiment)}*",
        "",
        f"- {cell(verdict.reason)}",
        f"- time to detect: {cell(ttd)}; time to recover: {cell(ttr)}",
        f"- readers during the fault: {cell(verdict.phase(Phase.DURING).describe())}",
        "",
        "**Faults and their restores**",
        "",
    ]
    lines += [markdown.fault_line(f) for f in verdict.faults] or ["- no fault was injected"]
    failed = [c for c in verdict.checks if not c.held]
    lines += ["", "**Deviations**", ""]
    lines += [markdown.check_line(c) for c in failed] or ["- none: every check held"]
    return [*lines, ""]


def _md_experiments(review: Review) -> list[str]:
    cell = markdown.cell
    lines = [
        "## Experiments",
        "",
        "| # | experiment | outcome | score | availability during | p95 during "
        "| time to detect | time to recover |",
        "|--:|---|---|--:|--:|--:|--:|--:|",
    ]
    for experiment in review.experiments:
        figures = " | ".join(cell(value) for value in experiment_figures(experiment))
        lines.append(
            f"| {experiment.index} | {cell(experiment.name)} | "
            f"{cell(experiment.outcome_words)} | {figures} |"
        )
    lines.append("")
    for experiment in review.experiments:
        lines += _md_experiment(experiment)
    return lines


def render_markdown(review: Review) -> str:
    """The review as GitHub-flavoured Markdown (for a wiki page or an issue)."""
    cell = markdown.cell
    lines = [f"# {cell(review.headline)}", "", f"*{BLAMELESS}*", "", *_md_header(review), ""]
    lines += _md_expected(review) + _md_happened(review) + _md_experiments(review)
    lines += ["## What surprised us", ""]
    lines += [f"- {cell(surprise_words(review, s))}" for s in review.surprises] or [
        "- Nothing: every check held."
    ]
    lines += ["", "## Questions to follow up", ""]
    lines += [f"{n}. {cell(q)}" for n, q in enumerate(review.questions, start=1)]
    return "\n".join(lines) + "\n"
