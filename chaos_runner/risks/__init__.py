"""``chaos risks``: a read-only resilience review of a CloudFront + S3 site.

It reads the distribution (origins, origin groups, behaviours, error responses), the
buckets, the CloudWatch alarms, the ACM certificate, the Route 53 records and the
invalidation history, and reports each risk with its evidence, a severity, the change to
make and the experiment in ``experiments/`` that shows its effect. It only reads (Get,
List and Describe calls).

    facts -> checks -> review -> render
    reading.read_site   checks.assess   review.Review   render.as_text|as_markdown|as_json
"""

from chaos_runner.risks.checks import CHECKS, assess
from chaos_runner.risks.facts import NotRead, SiteFacts, distribution_facts
from chaos_runner.risks.findings import KINDS, Risk, RiskKind, Severity
from chaos_runner.risks.reading import read_site
from chaos_runner.risks.render import as_json, as_markdown, as_text
from chaos_runner.risks.review import Review, review, review_of

__all__ = [
    "CHECKS",
    "KINDS",
    "NotRead",
    "Review",
    "Risk",
    "RiskKind",
    "Severity",
    "SiteFacts",
    "as_json",
    "as_markdown",
    "as_text",
    "assess",
    "distribution_facts",
    "read_site",
    "review",
    "review_of",
]
