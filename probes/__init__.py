"""Read-only Chaos Toolkit probes for static sites on CloudFront + S3.

Each module is one view of the site, imported by experiments as ``module: probes.<name>``:

- :mod:`probes.http`: what readers see at ``CHAOS_SITE_URL`` (availability, latency,
  cache status, content digests).

Importing this package imports none of them, so ``import probes`` stays cheap.
"""

__all__: list[str] = []
