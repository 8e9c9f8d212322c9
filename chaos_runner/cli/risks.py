"""``chaos risks``: a read-only resilience review of the site's CloudFront and S3 settings."""

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from chaos_runner._errors import AwsCallError, ChaosRunnerError, ConfigurationError
from chaos_runner.cli._output import ExitCode, fail
from chaos_runner.cli._results import check_writable
from chaos_runner.risks import KINDS, Review, Severity, as_json, as_markdown, as_text, review
from chaos_runner.target import Target, is_loopback_url, target_variables_set

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

#: The output file name that means standard output.
STDOUT = "-"


@app.command()
def risks(
    target: Annotated[
        str | None,
        typer.Option(
            metavar="sandbox",
            help="`sandbox`: review the local sandbox (the one running from this directory, "
            "else a temporary one). Without it, the CHAOS_* variables name the site.",
        ),
    ] = None,
    fail_on: Annotated[
        Severity,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a risk of this severity or above is found (and not accepted).",
            case_sensitive=False,
        ),
    ] = Severity.HIGH,
    json_file: Annotated[
        str | None,
        typer.Option("--json", metavar="FILE", help="Write the review as JSON (- : stdout)."),
    ] = None,
    markdown_file: Annotated[
        str | None,
        typer.Option(
            "--markdown", metavar="FILE", help="Write the review as Markdown (- : stdout)."
        ),
    ] = None,
    accept: Annotated[
        list[str] | None,
        typer.Option(
            metavar="RISK",
            help="A risk id to accept (repeatable): still listed, never fails the review.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Read the distribution, its origins and behaviours, the buckets, the CloudWatch alarms,
    the certificate and the DNS records, and report the resilience risks found: each with
    its evidence, a severity, what to change, and the experiment that shows its effect.

    Only reads (Get, List and Describe calls). Exit codes: 0 nothing at or above
    --fail-on (default high), 1 a risk at or above it, 2 usage error or a site that cannot
    be read (an unknown distribution, a missing bucket, credentials that cannot read).
    """
    accepted = _accepted(accept or [])
    outputs = _outputs(json_file, markdown_file)
    with _site(target) as site:
        try:
            found = review(site).accepting(accepted)
        except ConfigurationError as error:
            fail(f"{error} Nothing was reviewed.", ExitCode.USAGE)
        except AwsCallError as error:
            fail(f"{error}{_sandbox_hint(site, error)} Nothing was reviewed.", ExitCode.USAGE)
    _write(found, fail_on, outputs)
    if found.failing(fail_on):
        raise typer.Exit(int(ExitCode.DEVIATED))


def _accepted(ids: list[str]) -> list[str]:
    unknown = [risk_id for risk_id in ids if risk_id not in KINDS]
    if unknown:
        fail(
            f"--accept {unknown[0]}: no such risk. The risk ids are {', '.join(KINDS)}.",
            ExitCode.USAGE,
        )
    return ids


def _outputs(json_file: str | None, markdown_file: str | None) -> dict[str, str]:
    """The outputs asked for, by format; exit 2 on an output that cannot be written."""
    outputs = {
        name: path
        for name, path in (("json", json_file), ("markdown", markdown_file))
        if path is not None
    }
    if list(outputs.values()).count(STDOUT) > 1:
        fail("Only one of --json and --markdown can be - (standard output).", ExitCode.USAGE)
    for name, path in outputs.items():
        if path != STDOUT:
            check_writable(f"--{name}", Path(path))
    return outputs


@contextlib.contextmanager
def _site(target: str | None) -> Iterator[Target]:
    """The site to review: the sandbox (``--target sandbox``) or the CHAOS_* variables."""
    if target == "sandbox":
        with _sandbox() as site:
            yield site
        return
    if target is not None:
        fail(f"--target takes `sandbox` (or nothing, with the CHAOS_* variables); got {target!r}.",
             ExitCode.USAGE)  # fmt: skip
    if not target_variables_set():
        fail(
            "No site to review: set CHAOS_DISTRIBUTION_ID and CHAOS_ORIGIN_BUCKET (and "
            "CHAOS_SITE_URL, and the AWS variables) to review a real distribution, or pass "
            '--target sandbox (a running sandbox: eval "$(chaos sandbox env)" sets them all).',
            ExitCode.USAGE,
        )
    site = Target.resolve()
    try:
        site.require("CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET")
    except ConfigurationError as error:
        fail(f"{error} Nothing was reviewed.", ExitCode.USAGE)
    yield site


@contextlib.contextmanager
def _sandbox() -> Iterator[Target]:
    """The sandbox running from this directory, else a temporary one stopped afterwards."""
    from chaos_runner.sandbox.process import detach, find_running, stop
    from chaos_runner.sandbox.stack import SandboxSettings
    from chaos_runner.sandbox.state import default_state_file

    try:
        info = find_running(default_state_file())
    except ChaosRunnerError as error:
        fail(str(error), ExitCode.USAGE)
    if info is not None:
        typer.echo(f"Reviewing the sandbox running from this directory (pid {info.pid}).", err=True)
        yield Target.resolve(environ=info.environment())
        return
    home = Path(tempfile.mkdtemp(prefix="chaos-risks-"))
    state_file = home / "sandbox.json"
    try:
        try:
            info = detach(SandboxSettings(), state_file, home / "sandbox.log")
        except ChaosRunnerError as error:
            fail(f"The sandbox could not start: {error}", ExitCode.USAGE)
        typer.echo(
            f"No sandbox is running here: started a temporary one (pid {info.pid}) to review; "
            "it is stopped afterwards.",
            err=True,
        )
        yield Target.resolve(environ=info.environment())
    finally:
        stop(state_file)
        shutil.rmtree(home, ignore_errors=True)


def _sandbox_hint(site: Target, error: AwsCallError) -> str:
    """For an AWS endpoint on loopback that does not answer: the sandbox is likely gone."""
    if error.code is not None or not is_loopback_url(site.endpoint_url):
        return ""
    return (
        f" AWS_ENDPOINT_URL ({site.endpoint_url}) is on this machine: if it was a sandbox that "
        'has stopped, clear the variables with `eval "$(chaos sandbox env --unset)"`.'
    )


def _write(found: Review, fail_on: Severity, outputs: dict[str, str]) -> None:
    """Each output asked for; the person's view on stdout unless an output takes stdout."""
    texts = {
        "json": lambda: json.dumps(as_json(found, fail_on), indent=2) + "\n",
        "markdown": lambda: as_markdown(found, fail_on),
    }
    for name, path in outputs.items():
        if path == STDOUT:
            typer.echo(texts[name](), nl=False)
            continue
        try:
            Path(path).write_text(texts[name](), encoding="utf-8")
        except OSError as error:
            fail(f"--{name} {path}: cannot be written ({error.strerror or error}).", ExitCode.USAGE)
    if STDOUT not in outputs.values():
        typer.echo(as_text(found, fail_on))
