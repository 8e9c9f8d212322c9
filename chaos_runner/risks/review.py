"""A review: the risks found on one site at one moment, and which of them fail it."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from chaos_runner.risks.checks import assess
from chaos_runner.risks.facts import NotRead, SiteFacts
from chaos_runner.risks.findings import Risk, Severity
from chaos_runner.risks.invalidations import MonthOfInvalidations, by_month
from chaos_runner.risks.reading import read_site
from chaos_runner.target import Target

__all__ = ["Review", "review", "review_of"]


@dataclass(frozen=True, slots=True)
class Review:
    """The risks of one site, most severe first."""

    target: str
    distribution_id: str
    read_at: datetime
    risks: tuple[Risk, ...]
    #: The risk ids checked for and not found.
    clear: tuple[str, ...] = ()
    #: The invalidation history per month (empty when it could not be read).
    invalidations: tuple[MonthOfInvalidations, ...] = ()

    def failing(self, fail_on: Severity) -> list[Risk]:
        """The risks at or above ``fail_on`` that were not accepted."""
        return [r for r in self.risks if not r.accepted and r.severity.rank >= fail_on.rank]

    def counts(self) -> dict[str, int]:
        """How many risks of each severity, high first."""
        order = sorted(Severity, key=lambda s: -s.rank)
        return {str(s): sum(r.severity is s for r in self.risks) for s in order}

    def accepting(self, risk_ids: Iterable[str]) -> "Review":
        """The same review with the risks of these ids marked accepted."""
        ids = set(risk_ids)
        risks = tuple(replace(r, accepted=r.id in ids) for r in self.risks)
        return replace(self, risks=risks)


def review_of(facts: SiteFacts, target: str) -> Review:
    """The review of what was read (pure: the checks and the invalidation months)."""
    history = facts.invalidations
    assessment = assess(facts)
    return Review(
        target=target,
        distribution_id=facts.distribution.id,
        read_at=facts.read_at,
        risks=assessment.risks,
        clear=assessment.clear,
        invalidations=() if isinstance(history, NotRead) else by_month(history),
    )


def review(target: Target, now: datetime | None = None) -> Review:
    """Read ``target`` and review it (only reads; see :mod:`chaos_runner.risks.reading`)."""
    return review_of(read_site(target, now), target.label)
