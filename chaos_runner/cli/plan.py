"""``chaos plan EXPERIMENT...``: what each run would change, the load it would send, and the
least-privilege IAM policy that allows it, without changing anything.

Nothing runs: no fault, no probe, no lock, no ledger. The target is read (see
:mod:`chaos_runner.planning.survey`); a target that does not exist or cannot be read, and a
file that is not a valid experiment, end the command with one line and exit 2, before
anything is written.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from chaos_runner._errors import ChaosRunnerError
from chaos_runner.cli._output import ExitCode, fail

__all__ = ["app"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

_STDOUT = "-"


@app.command()
def plan(
    experiments: Annotated[
        list[Path],
        typer.Argument(
            metavar="EXPERIMENT...",
            help="Experiment files, or directories of them.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plans (and the policy) as JSON.")
    ] = False,
    iam_file: Annotated[
        str | None,
        typer.Option(
            "--iam",
            metavar="FILE",
            help="Write the IAM policy that allows every run (JSON); `-` prints it instead "
            "of the plans.",
        ),
    ] = None,
) -> None:
    """Show, for each experiment, every mutation its run would make in order (resource,
    change, blast radius, how it is restored, how long it takes to take effect), the probes
    and the load they send, and the least-privilege IAM policy of the run.

    Changes nothing: no fault runs, no lock is taken, no ledger is written. The target is
    read (the CHAOS_* variables, else the sandbox running here, else the one `chaos run`
    would start). Exit 0; 2 on bad input (an invalid experiment, a distribution or bucket
    that does not exist, credentials that cannot read them), with nothing written.
    """
    from chaos_runner.planning import combined_policy, plan_experiments
    from chaos_runner.planning.render import NOTHING_CHANGED, as_text
    from chaos_runner.planning.render import as_json as json_document

    if as_json and iam_file == _STDOUT:
        fail("--json and --iam - both print on stdout; give --iam a file.", ExitCode.USAGE)
    destination = _destination(iam_file)
    try:
        plans = plan_experiments([str(path) for path in experiments])
    except ChaosRunnerError as error:
        fail(str(error), ExitCode.USAGE)
    policy = combined_policy(plans)
    if iam_file == _STDOUT:
        typer.echo(_policy_text(policy), nl=False)
        return
    if destination is not None:
        _write(destination, _policy_text(policy))
    if as_json:
        typer.echo(json.dumps(json_document(plans, policy), indent=2))
        return
    for number, one in enumerate(plans):
        typer.echo(("\n" if number else "") + as_text(one))
    typer.echo("")
    if destination is not None:
        typer.echo(f"The IAM policy for {_runs(len(plans))} is in {destination}.")
    typer.echo(NOTHING_CHANGED)


def _runs(count: int) -> str:
    return "this run" if count == 1 else f"these {count} runs"


def _policy_text(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2) + "\n"


def _destination(iam_file: str | None) -> Path | None:
    """Where --iam writes, checked before anything is planned (a bad path: exit 2)."""
    if iam_file is None or iam_file == _STDOUT:
        return None
    path = Path(iam_file)
    if path.is_dir():
        fail(f"--iam {iam_file} is a directory; give a file name.", ExitCode.USAGE)
    if not path.parent.is_dir():
        fail(f"--iam {iam_file}: the directory {path.parent} does not exist.", ExitCode.USAGE)
    if not os.access(path.parent, os.W_OK):
        fail(f"--iam {iam_file}: the directory {path.parent} is not writable.", ExitCode.USAGE)
    return path


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        fail(f"--iam {path}: cannot be written ({error.strerror or error}).", ExitCode.USAGE)
