"""A sandbox whose moto enforces IAM, run in a process of its own (``python iam_sandbox.py``).

moto enforces IAM process-wide (``moto.settings.INITIAL_NO_AUTH_ACTION_COUNT``), so this
sandbox cannot share the test session's process. Every request signed with an IAM user's
key is checked against that user's policies by moto, with two exceptions that make the
sandbox itself work as its parts work on AWS:

- the sandbox's own parts (the edge reading its distribution's config, the website endpoint
  reading the bucket's website configuration) are AWS's services there, not a user: their
  requests, signed with ``chaos_runner.aws.LOOPBACK_ACCESS_KEY``, are not checked (moto
  5.2.5 could not check them anyway: it rejects the signature of every CloudFront call);
- an anonymous request (no ``Authorization`` header: a visitor, the website endpoint's
  object reads, the outage fault's check) is decided by the bucket policy alone, as on S3
  (moto 5.2.5 fails it with a 500: it reads the missing header).

Run: ``python tests/account/iam_sandbox.py --state-file DIR/sandbox.json``; it serves until
SIGTERM, and writes its state file (:class:`chaos_runner.sandbox.state.SandboxInfo`) when
ready.
"""

import argparse
import sys
from pathlib import Path
from typing import Any


def _enforce_iam() -> None:
    """Check every request signed with a user's key; let the two exceptions above through."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    from chaos_runner.aws import LOOPBACK_ACCESS_KEY

    checked = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        signature = self.headers.get("Authorization")
        if signature is None or f"Credential={LOOPBACK_ACCESS_KEY}/" in signature:
            return
        checked(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0


def main(argv: list[str] | None = None) -> int:
    """Serve an enforcing sandbox until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)
    _enforce_iam()
    from chaos_runner.sandbox.process import serve
    from chaos_runner.sandbox.stack import SandboxSettings

    serve(SandboxSettings(), args.state_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
