"""Chaos Toolkit actions that change the world. Each one records its undo in the ledger
before its first mutation, verifies its effect, and has a matching restorer.

Activities here follow Chaos Toolkit's conventions: JSON-scalar parameters, then
``configuration`` and ``secrets``; errors reach Chaos Toolkit as ``ActivityFailed`` with a
full-sentence message.

Importing this package imports every fault module, and so registers every restorer with
the ledger (:func:`chaos_runner.ledger.restorer`): whoever restores from the ledger
(the safety control, ``chaos rollback``, the restore action) imports it first.
"""

from chaos_runner.faults import cloudfront, objects, origin_link, s3, tls

__all__ = ["cloudfront", "objects", "origin_link", "s3", "tls"]
