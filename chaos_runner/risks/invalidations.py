"""Invalidations per month, and what they cost beyond the free paths.

CloudFront bills invalidation paths per AWS account and calendar month: the first 1,000
paths are free, each one beyond costs $0.005, and a path with a wildcard counts as one
path however many objects it removes (Developer Guide, "Pay for file invalidation"). So
``/*`` after every deploy is cheap in money: its cost is elsewhere, in an empty cache at
every edge (the cache-purge experiment shows it).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from chaos_runner.risks.facts import InvalidationHistory

__all__ = [
    "EVERYTHING",
    "FREE_PATHS_PER_MONTH",
    "PRICE_PER_PATH_USD",
    "MonthOfInvalidations",
    "by_month",
    "month_start",
]

FREE_PATHS_PER_MONTH = 1000
PRICE_PER_PATH_USD = 0.005
#: The path that invalidates every object of the distribution.
EVERYTHING = "/*"


@dataclass(frozen=True, slots=True)
class MonthOfInvalidations:
    """One calendar month (UTC) of a distribution's invalidations."""

    month: str
    invalidations: int
    #: How many of them invalidated ``/*``.
    everything: int
    #: Paths billed (a wildcard path is one).
    paths: int

    @property
    def paths_beyond_free(self) -> int:
        """Paths beyond the month's 1,000 free ones (if no other distribution used any)."""
        return max(0, self.paths - FREE_PATHS_PER_MONTH)

    @property
    def cost_usd(self) -> float:
        """What the paths beyond the free ones cost, in US dollars."""
        return round(self.paths_beyond_free * PRICE_PER_PATH_USD, 3)


def by_month(history: InvalidationHistory) -> tuple[MonthOfInvalidations, ...]:
    """The history's invalidations counted per calendar month, oldest month first."""
    months: dict[str, list[int]] = {}
    for invalidation in history.invalidations:
        counts = months.setdefault(invalidation.created.strftime("%Y-%m"), [0, 0, 0])
        counts[0] += 1
        counts[1] += EVERYTHING in invalidation.paths
        counts[2] += len(invalidation.paths)
    return tuple(
        MonthOfInvalidations(month, count, everything, paths)
        for month, (count, everything, paths) in sorted(months.items())
    )


def month_start(now: datetime, months_back: int = 0) -> datetime:
    """The first moment (UTC) of the calendar month ``months_back`` before ``now``'s."""
    utc = now.astimezone(UTC)
    year, month = divmod(utc.year * 12 + utc.month - 1 - months_back, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)
