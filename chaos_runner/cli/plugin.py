"""The entry points chaostoolkit loads into ``chaos`` (group ``chaostoolkit.cli_plugins``).

Every ``chaos`` invocation imports this module, so it imports nothing but click (which
chaostoolkit has loaded already). Each command is a thin click command that hands its raw
arguments to a Typer app, imported only when the command runs: Typer vendors its own click,
so a Typer command object added straight into chaostoolkit's click group breaks ``--help``
and usage errors (see docs/architecture.md).
"""

import importlib
import sys

import click

__all__ = ["gameday", "gate", "halt", "plan", "risks", "rollback", "sandbox", "verdict"]

_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


def _delegate(name: str, module: str, help_text: str) -> click.Command:
    @click.command(name=name, context_settings=_PASSTHROUGH, add_help_option=False, help=help_text)
    @click.pass_context
    def command(ctx: click.Context) -> None:
        app = importlib.import_module(module).app
        try:
            app(args=list(ctx.args), prog_name=f"chaos {name}", standalone_mode=True)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            sys.stdout.flush()
            ctx.exit(code)

    return command


sandbox = _delegate(
    "sandbox",
    "chaos_runner.cli.sandbox",
    "Start, stop and inspect the local sandbox site stack (moto + CloudFront-like edge).",
)
rollback = _delegate(
    "rollback",
    "chaos_runner.cli.rollback",
    "Restore every fault left open in the ledger (after a killed run).",
)
verdict = _delegate(
    "verdict",
    "chaos_runner.cli.verdict",
    "Judge run journals: outcome, reasons, score; JUnit, Markdown and JSON reports.",
)
gate = _delegate(
    "gate",
    "chaos_runner.cli.gate",
    "Run experiments and fail the pipeline when the site does not hold (JUnit, Markdown).",
)
halt = _delegate(
    "halt",
    "chaos_runner.cli.halt",
    "Abort every run on this machine (each restores) and refuse new ones until --release.",
)
gameday = _delegate(
    "gameday",
    "chaos_runner.cli.gameday",
    "Game days: validate, run, note, schedule, export and review a plan of experiments.",
)
plan = _delegate(
    "plan",
    "chaos_runner.cli.plan",
    "Show what experiments would change, the load they send, and the IAM policy they need.",
)
risks = _delegate(
    "risks",
    "chaos_runner.cli.risks",
    "Read a distribution, its bucket, alarms, certificate and DNS; report resilience risks.",
)
