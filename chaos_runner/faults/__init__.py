"""Chaos Toolkit actions that change the world. Each one records its undo in the ledger
before its first mutation, verifies its effect, and has a matching restorer.

Activities here follow Chaos Toolkit's conventions: JSON-scalar parameters, then
``configuration`` and ``secrets``; errors reach Chaos Toolkit as ``ActivityFailed`` with a
full-sentence message.
"""
