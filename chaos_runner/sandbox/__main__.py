"""``python -m chaos_runner.sandbox``: the process that ``chaos sandbox up --detach`` starts."""

import argparse
import sys
from pathlib import Path

from chaos_runner._errors import ConfigurationError, SandboxError
from chaos_runner.sandbox.process import serve
from chaos_runner.sandbox.propagation import parse_duration
from chaos_runner.sandbox.stack import DEFAULT_POPS, SandboxSettings
from chaos_runner.sandbox.state import SandboxInfo, default_state_file


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGTERM/SIGINT; exit 1 with one line when it cannot start."""
    parser = argparse.ArgumentParser(prog="python -m chaos_runner.sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--aws-port", type=int, default=0)
    parser.add_argument("--edge-port", type=int, default=0)
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--https-port", type=int, default=0)
    parser.add_argument("--pops", type=int, default=DEFAULT_POPS)
    parser.add_argument("--propagation-delay", type=_duration, default=0.0)
    parser.add_argument("--state-file", type=Path, default=None)
    parser.add_argument("--site-dir", type=Path, default=None)
    # Default: the id of the state file's directory (chaos_runner.sandbox.process.serve).
    parser.add_argument("--distribution-id", default=None)
    args = parser.parse_args(argv)
    settings = SandboxSettings(
        args.host,
        args.aws_port,
        args.edge_port,
        args.site_dir,
        pops=args.pops,
        propagation_delay=args.propagation_delay,
        admin_port=args.admin_port,
        distribution_id=args.distribution_id,
        https_port=args.https_port,
    )

    def ready(info: SandboxInfo) -> None:
        print(f"sandbox ready in {info.startup_seconds:.2f} s (pid {info.pid})", flush=True)
        print(info.summary(), flush=True)

    try:
        serve(settings, args.state_file or default_state_file(), ready)
    except SandboxError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
