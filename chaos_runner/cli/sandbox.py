"""``chaos sandbox up|down|status|env``: the local site stack."""

import json
import shlex
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from chaos_runner._errors import ConfigurationError, SandboxError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.sandbox.process import detach, find_running, serve, stop
from chaos_runner.sandbox.propagation import parse_duration
from chaos_runner.sandbox.stack import DEFAULT_POPS, MAX_POPS, SandboxSettings
from chaos_runner.sandbox.state import (
    SANDBOX_VARIABLES,
    SandboxInfo,
    default_state_dir,
    default_state_file,
)

__all__ = ["app"]

app = typer.Typer(
    help="The local sandbox: moto as the AWS APIs, an edge that serves the distribution "
    "as CloudFront would, and a demo site. No AWS account needed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_AWS_PORT = 4566
DEFAULT_EDGE_PORT = 8480


def _check_port(option: str, value: int) -> None:
    if not 0 <= value <= 65535:
        fail(f"{option} {value} is not a TCP port (0-65535; 0 picks a free one).", ExitCode.USAGE)


@app.command()
def up(
    detach_: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background and return once ready.")
    ] = False,
    aws_port: Annotated[
        int, typer.Option(help="Port of the AWS APIs (moto); 0 picks a free one.")
    ] = DEFAULT_AWS_PORT,
    edge_port: Annotated[
        int,
        typer.Option(
            help="Port of the site (the edge's first POP; POP n listens on this + n - 1); "
            "0 picks free ones."
        ),
    ] = DEFAULT_EDGE_PORT,
    admin_port: Annotated[
        int,
        typer.Option(
            help="Port of the admin API (origin link and certificate faults); 0 picks a free one."
        ),
    ] = 0,
    https_port: Annotated[
        int,
        typer.Option(
            help="Port of the site over HTTPS (the first POP, with a certificate of the "
            "sandbox's own test CA); 0 picks a free one."
        ),
    ] = 0,
    pops: Annotated[
        int,
        typer.Option(
            help="Edge locations (POPs), each with a cache of its own; header "
            "X-Chaos-Pop: SBX2 picks one on any edge port."
        ),
    ] = DEFAULT_POPS,
    propagation_delay: Annotated[
        str,
        typer.Option(
            help="How long a CloudFront change (config, invalidation) takes to reach the "
            "edge: 30s, 500ms, 2m or seconds. The API says InProgress meanwhile."
        ),
    ] = "0",
    site_dir: Annotated[
        Path | None,
        typer.Option(
            help="Deploy this directory (a Hugo public/) instead of the demo site.",
            exists=True,
            file_okay=False,
            dir_okay=True,
        ),
    ] = None,
) -> None:
    """Start the sandbox (in the foreground unless --detach) on 127.0.0.1."""
    for option, value in (
        ("--aws-port", aws_port),
        ("--edge-port", edge_port),
        ("--admin-port", admin_port),
        ("--https-port", https_port),
    ):
        _check_port(option, value)
    if not 1 <= pops <= MAX_POPS:
        fail(f"--pops must be between 1 and {MAX_POPS}; got {pops}.", ExitCode.USAGE)
    if edge_port and edge_port + pops - 1 > 65535:
        fail(
            f"--edge-port {edge_port} leaves no port for POP {pops} (it would be "
            f"{edge_port + pops - 1}); pick a lower port.",
            ExitCode.USAGE,
        )
    try:
        delay = parse_duration(propagation_delay)
    except ConfigurationError as error:
        fail(str(error), ExitCode.USAGE)
    settings = SandboxSettings(
        "127.0.0.1",
        aws_port,
        edge_port,
        site_dir,
        pops=pops,
        propagation_delay=delay,
        admin_port=admin_port,
        https_port=https_port,
    )
    state_file = default_state_file()
    if detach_:
        try:
            info = detach(settings, state_file, default_state_dir() / "sandbox.log")
        except SandboxError as error:
            fail(str(error))
        typer.echo(
            f"Sandbox started in the background in {info.startup_seconds:.2f} s (pid {info.pid})."
        )
        typer.echo(info.summary())
        typer.echo('Point your tools at it with: eval "$(chaos sandbox env)"')
        return

    def ready(info: SandboxInfo) -> None:
        typer.echo(f"Sandbox ready in {info.startup_seconds:.2f} s (pid {info.pid}).")
        typer.echo(info.summary())
        typer.echo('In another shell: eval "$(chaos sandbox env)". Ctrl-C stops the sandbox.')

    try:
        serve(settings, state_file, ready)
    except SandboxError as error:
        fail(str(error))
    typer.echo("Sandbox stopped.")


@app.command()
def down() -> None:
    """Stop the sandbox started from this directory (a no-op when none runs)."""
    try:
        stopped = stop(default_state_file())
    except SandboxError as error:
        fail(str(error))
    if stopped is None:
        typer.echo("No sandbox is running from this directory.")
    else:
        typer.echo(f"Sandbox stopped (pid {stopped.pid}).")


def _running_or_fail() -> SandboxInfo:
    try:
        info = find_running(default_state_file())
    except SandboxError as error:
        fail(str(error))
    if info is None:
        fail(
            "No sandbox is running from this directory. Start one with `chaos sandbox up --detach`."
        )
    return info


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """Say whether the sandbox runs, where, and whether its site answers (exit 1 if not)."""
    info = _running_or_fail()
    answer = _site_answer(info.edge_url)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "running": True,
                    "site_answer": answer,
                    **info.environment(),
                    "pid": info.pid,
                    "pop_urls": info.pop_urls,
                    "propagation_delay": info.propagation_delay,
                }
            )
        )
        return
    typer.echo(f"Sandbox running (pid {info.pid}, up {time.time() - info.started_at:.0f} s).")
    typer.echo(info.summary())
    typer.echo(f"site answer:  {answer}")


def _site_answer(url: str) -> str:
    try:
        with urllib.request.urlopen(url + "/", timeout=3) as response:
            return f"{response.status} {response.headers.get('X-Cache', '')}".strip()
    except urllib.error.HTTPError as error:
        return f"{error.code} {error.headers.get('X-Cache', '')}".strip()
    except OSError as error:
        return f"no answer ({error})"


@app.command()
def env(
    hugo: Annotated[
        bool,
        typer.Option(
            "--hugo",
            help="Print the [deployment] block of a hugo.toml that deploys to the sandbox "
            "(its distribution id stays the same when the sandbox is started again from "
            "this directory).",
        ),
    ] = False,
    unset: Annotated[
        bool,
        typer.Option(
            "--unset",
            help='Print `unset` lines for every variable this command sets: eval "$(chaos '
            'sandbox env --unset)" points the shell away from a sandbox (running or not).',
        ),
    ] = False,
) -> None:
    """Print `export` lines pointing the AWS CLI, boto3, hugo deploy and chaos at the sandbox.

    They also make clients trust the sandbox's HTTPS (CHAOS_SITE_HTTPS_URL): SSL_CERT_FILE,
    REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE name its trust bundle, the system's CAs plus the
    sandbox's test CA, so the shell still reaches every other HTTPS site.
    """
    if hugo and unset:
        fail("--hugo and --unset do not go together; pick one.", ExitCode.USAGE)
    if unset:
        for name in SANDBOX_VARIABLES:
            typer.echo(f"unset {name}")
        return
    info = _running_or_fail()
    if hugo:
        typer.echo(info.hugo_deployment())
        return
    for name, value in info.environment().items():
        typer.echo(f"export {name}={shlex.quote(value)}")
