"""Read-only Chaos Toolkit probes for static sites on CloudFront + S3.

Each module is one view of the site, imported by experiments as ``module: probes.<name>``:

- :mod:`probes.http`: what readers see at ``CHAOS_SITE_URL``: availability and latency of a
  short closed-loop load, and each page's status, ``X-Cache``, ``Age`` and digest.
- :mod:`probes.load`: the load engine: a constant arrival rate (open model) or as fast as
  answered, weighted paths, latency percentiles from an HDR-style histogram in constant
  memory, error classes, ``X-Cache`` and hit ratio, POPs, a per-second timeline.
- :mod:`probes.watch`: a background watch through faults and recovery, with
  time-to-detect and time-to-recover from the ledger.
- :mod:`probes.cache`: hit ratio, ``Age`` and which origin (primary or secondary) served.
- :mod:`probes.content`: the edge serves the deployed bytes (bucket or build directory).
- :mod:`probes.cloudfront`: distribution and invalidation state, config digest.
- :mod:`probes.cloudwatch`: CloudFront's CloudWatch metrics (us-east-1, Region=Global) and
  alarm states.
- :mod:`probes.tolerances`: ``service_levels_met``, a tolerance that reads like an SLO.

Importing this package imports none of them, so ``import probes`` stays cheap. It
re-exports :func:`chaos_runner.discover`: the distribution has two top-level packages, and
``chaos discover chaostoolkit-cdn`` may take either for the extension.
"""

from chaos_runner.discovery import discover

__all__ = ["discover"]
