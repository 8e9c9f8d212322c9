"""The CI examples in docs/ci: each passes its own ecosystem's linter, and uses only the
options `chaos gate` and `chaos rollback` have and the target variables the code reads.

actionlint and check-jsonschema come with the dev extra; a missing one fails the test
rather than skipping it. Both run offline: check-jsonschema's builtin schemas are vendored
in the package, and the runs get a proxy that refuses every connection, so a schema that
needed the network would fail here.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from string import Template
from typing import Any

import pytest
import typer
import yaml
from junitparser import JUnitXml

from chaos_runner.cli import gate, rollback
from chaos_runner.cli._output import ExitCode
from chaos_runner.ledger import default_ledger_path
from chaos_runner.sandbox.state import SandboxInfo
from chaos_runner.target import TARGET_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "docs" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"
README = CI / "README.md"

#: The jobs of each file: (sandbox job, staging job).
JOBS = {GITHUB: ("sandbox", "staging"), GITLAB: ("resilience-sandbox", "resilience-staging")}

#: CHAOS_* names the examples may use besides the target variables.
OTHER_CHAOS_VARIABLES = {"CHAOS_LEDGER"}

#: Keys whose values are shell: GitHub's `run`, GitLab's script sections.
SHELL_KEYS = {"run", "script", "before_script", "after_script"}

#: Shell words that end a command's arguments (shlex with punctuation_chars makes `;`,
#: `&&`, `>`... words of their own).
COMMAND_ENDS = {";", "&&", "||", "|", "&", ">", ">>", "<", "then", "do", "fi", "done", "else", ")"}


def tool(name: str) -> str:
    """The console script ``name`` of the venv running the tests, else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def offline(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with every HTTP(S) connection sent to a closed port, but loopback's."""
    proxies = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in environ.items() if k.lower() not in proxies}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = "http://127.0.0.1:9"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"  # the sandbox's endpoints
    return env


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=offline(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def actionlint(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """actionlint's exit code and findings on ``path``.

    shellcheck and pyflakes are turned off, so the result does not depend on whether they
    are installed on this machine.
    """
    done = run(
        [tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes=",
         "-format", "{{json .}}", str(path)],
        cwd=path.parent,
    )  # fmt: skip
    assert done.returncode in (0, 1), f"actionlint did not run: {done.stdout}{done.stderr}"
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return done.returncode, findings


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def job(path: Path, name: str) -> dict[str, Any]:
    document = load(path)
    jobs = document["jobs"] if path == GITHUB else document
    found = jobs[name]
    assert isinstance(found, dict)
    return found


def shell_texts(node: Any, key: str | None = None) -> Iterator[str]:
    """Every shell text under ``node``: `run:` values, GitLab script lines."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from shell_texts(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from shell_texts(item, key)
    elif isinstance(node, str) and key in SHELL_KEYS:
        yield node


def commands(node: Any, subcommand: str) -> list[list[str]]:
    """The arguments of each `chaos SUBCOMMAND ...` in the shell texts under ``node``."""
    found = []
    texts = shell_texts(node)
    for line in (ln for text in texts for ln in text.replace("\\\n", " ").splitlines()):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i in range(len(words) - 1):
            if words[i : i + 2] == ["chaos", subcommand]:
                args = []
                for word in words[i + 2 :]:
                    if word in COMMAND_ENDS:
                        break
                    args.append(word)
                found.append(args)
    return found


def options_of(app: typer.Typer) -> set[str]:
    """Every option spelling of the command behind ``app`` (``--x`` and ``--no-x``)."""
    command = typer.main.get_command(app)
    return {opt for p in command.params for opt in [*p.opts, *p.secondary_opts]}


def parse(app: typer.Typer, name: str, args: list[str]) -> dict[str, Any]:
    """``args`` parsed by the command itself (types, arity), or the test fails."""
    command = typer.main.get_command(app)
    try:
        with command.make_context(f"chaos {name}", list(args)) as context:
            return dict(context.params)
    except Exception as error:  # the vendored click's UsageError, BadParameter, ...
        pytest.fail(f"`chaos {name} {shlex.join(args)}` does not parse: {error}")


def used_options(args: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in args if arg.startswith("-")}


# --- the linters -----------------------------------------------------------------------


def test_actionlint_passes_the_workflow() -> None:
    code, findings = actionlint(GITHUB)
    assert findings == [], "\n".join(
        f"{f['filepath']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )
    assert code == 0


def test_actionlint_really_runs(tmp_path: Path) -> None:
    """A broken expression in a copy of the workflow is found, on its line."""
    text = GITHUB.read_text()
    good = "${{ vars.CHAOS_SITE_URL }}"
    assert good in text
    broken = tmp_path / "github-actions.yml"
    broken.write_text(text.replace(good, "${{ foo. }}", 1))
    line = text[: text.index(good)].count("\n") + 1

    code, findings = actionlint(broken)

    assert code == 1
    assert [(f["line"], f["kind"]) for f in findings] == [(line, "expression")], findings


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", GITHUB), ("vendor.gitlab-ci", GITLAB)],
    ids=["github", "gitlab"],
)
def test_check_jsonschema_passes(schema: str, path: Path) -> None:
    done = run([tool("check-jsonschema"), "--builtin-schema", schema, str(path)], cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


@pytest.mark.parametrize(
    ("schema", "path", "key", "good", "bad"),
    [
        ("vendor.github-workflows", GITHUB, "cancel-in-progress", "false", "maybe"),
        ("vendor.gitlab-ci", GITLAB, "when", "always", "sometimes"),
    ],
    ids=["github", "gitlab"],
)
def test_check_jsonschema_really_checks(
    tmp_path: Path, schema: str, path: Path, key: str, good: str, bad: str
) -> None:
    """A value the schema forbids, in a copy of the file, is found."""
    text = path.read_text()
    assert f"{key}: {good}" in text
    broken = tmp_path / path.name
    broken.write_text(text.replace(f"{key}: {good}", f"{key}: {bad}", 1))

    done = run([tool("check-jsonschema"), "--builtin-schema", schema, str(broken)], cwd=ROOT)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"'{bad}' is not" in done.stdout


# --- the commands ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_gate_command_lines_use_only_options_the_gate_has(path: Path) -> None:
    known = options_of(gate.app)
    lines = commands(load(path), "gate")
    assert len(lines) == 2, f"one `chaos gate` a job expected in {path.name}: {lines}"
    for args in lines:
        unknown = used_options(args) - known
        assert not unknown, f"`chaos gate` has no {sorted(unknown)}; it has {sorted(known)}"
        parse(gate.app, "gate", args)


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_sandbox_job_gates_fresh_sandboxes_and_staging_job_the_variables(path: Path) -> None:
    sandbox_job, staging_job = JOBS[path]

    (sandbox_args,) = commands(job(path, sandbox_job), "gate")
    sandbox = parse(gate.app, "gate", sandbox_args)
    assert sandbox["target"] == "sandbox"
    assert sandbox["paths"] == ["experiments/"]
    assert (ROOT / "experiments").is_dir()
    assert sandbox["junit_file"] is not None
    assert sandbox["markdown_file"] is not None
    assert sandbox["out"] is not None

    (staging_args,) = commands(job(path, staging_job), "gate")
    staging = parse(gate.app, "gate", staging_args)
    assert staging["target"] is None, "staging must name its target by the CHAOS_* variables"
    assert staging["jobs"] == 1
    assert staging["junit_file"] is not None


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_staging_job_rolls_back_with_options_rollback_has(path: Path) -> None:
    known = options_of(rollback.app)
    _, staging_job = JOBS[path]
    lines = commands(job(path, staging_job), "rollback")
    assert len(lines) == 1, lines
    for args in lines:
        unknown = used_options(args) - known
        assert not unknown, f"`chaos rollback` has no {sorted(unknown)}; it has {sorted(known)}"
        parse(rollback.app, "rollback", args)
    assert commands(job(path, JOBS[path][0]), "rollback") == [], "the sandbox stops itself"


def test_github_rollback_runs_after_the_gate_when_it_failed() -> None:
    steps = job(GITHUB, "staging")["steps"]
    gate_at = next(i for i, s in enumerate(steps) if commands(s, "gate"))
    rollback_at = next(i for i, s in enumerate(steps) if commands(s, "rollback"))
    assert rollback_at > gate_at
    assert "failure()" in steps[rollback_at]["if"]


def test_gitlab_rollback_runs_after_the_gate_unless_it_succeeded() -> None:
    staging = job(GITLAB, "resilience-staging")
    assert commands({"script": staging["script"]}, "gate")
    assert commands({"after_script": staging["after_script"]}, "rollback")
    (after,) = staging["after_script"]
    assert '"$CI_JOB_STATUS" != success' in after


# --- the sandbox jobs, run as written ----------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A working copy whose experiments/ holds the quickest experiment only."""
    (tmp_path / "experiments").mkdir()
    shutil.copy(ROOT / "experiments" / "distribution-disabled.yaml", tmp_path / "experiments")
    return tmp_path


def job_env(clean_env: dict[str, str], **extra: str) -> dict[str, str]:
    """``clean_env`` offline (chaostoolkit's version check fails at once), with this venv's
    `chaos` first on PATH."""
    env = offline({**clean_env, **extra})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


#: The shells the two services run a script in: GitHub's default on Linux runners, and a
#: shell that stops at the first failing line, as GitLab stops a job.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
SH = ["sh", "-e", "-c"]


def run_shell(
    shell: list[str], script: str, cwd: Path, env: dict[str, str], expect: int = 0
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*shell, script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    output = f"{script}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    assert (done.returncode == 0) if expect == 0 else (done.returncode != 0), output
    return done


@pytest.mark.slow
def test_github_sandbox_job_writes_what_it_uploads(
    checkout: Path, clean_env: dict[str, str]
) -> None:
    summary = checkout / "step-summary.md"
    env = job_env(clean_env, GITHUB_STEP_SUMMARY=str(summary))
    steps = job(GITHUB, "sandbox")["steps"]
    (gate_step,) = [s for s in steps if commands(s, "gate")]

    run_shell(BASH, gate_step["run"], checkout, env)

    uploaded = [s["with"]["path"] for s in steps if "upload-artifact" in s.get("uses", "")]
    published = [
        s["with"]["report_paths"] for s in steps if "action-junit-report" in s.get("uses", "")
    ]
    assert uploaded and published
    for path in [*uploaded, *published]:
        assert (checkout / path).exists(), path
    assert len(JUnitXml.fromfile(str(checkout / published[0]))) == 1
    assert "distribution-disabled" in summary.read_text()


@pytest.mark.slow
def test_gitlab_sandbox_job_writes_what_it_keeps(checkout: Path, clean_env: dict[str, str]) -> None:
    sandbox = job(GITLAB, "resilience-sandbox")

    run_shell(SH, "\n".join(sandbox["script"]), checkout, job_env(clean_env))

    artifacts = sandbox["artifacts"]
    for path in [*artifacts["paths"], artifacts["reports"]["junit"]]:
        assert (checkout / path).exists(), path
    assert len(JUnitXml.fromfile(str(checkout / artifacts["reports"]["junit"]))) == 1


def target_and_credentials(sandbox: SandboxInfo) -> tuple[dict[str, str], dict[str, str]]:
    """The session's sandbox as a real target: its CHAOS_* values (the repository's or
    project's variables) and its AWS_* ones (what the OIDC step would export)."""
    environment = sandbox.environment()
    target = {name: environment[name] for name in TARGET_VARIABLES}
    credentials = {k: v for k, v in environment.items() if k.startswith("AWS_")}
    return target, credentials


@pytest.mark.slow
def test_github_staging_job_gates_the_target_its_variables_name(
    checkout: Path, clean_env: dict[str, str], sandbox: SandboxInfo
) -> None:
    """The staging job's shell steps, as written, on the sandbox standing in for staging;
    then its rollback step, which finds nothing left to restore."""
    variables, credentials = target_and_credentials(sandbox)
    staging = job(GITHUB, "staging")
    contexts = {"vars": variables, "github": {"workspace": str(checkout)}}

    def evaluate(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            return contexts[match[1]][match[2]]

        return re.sub(r"\$\{\{ (vars|github)\.(\w+) \}\}", one, value)

    env = job_env(clean_env, **credentials, **{k: evaluate(v) for k, v in staging["env"].items()})
    steps = [s for s in staging["steps"] if "run" in s and not s["run"].startswith("pip ")]
    (rollback_step,) = [s for s in steps if commands(s, "rollback")]

    for step in steps:
        if step is not rollback_step:
            run_shell(BASH, step["run"], checkout, env)
    restored = run_shell(BASH, rollback_step["run"], checkout, env)

    assert "Nothing to restore" in restored.stdout
    assert Path(env["CHAOS_LEDGER"]).is_file()  # kept with the reports it uploads
    assert Path(env["CHAOS_LEDGER"]).is_relative_to(checkout / "reports")
    assert len(JUnitXml.fromfile(str(checkout / "reports" / "junit.xml"))) == 1


@pytest.mark.slow
def test_gitlab_staging_job_gates_the_target_its_variables_name(
    checkout: Path, clean_env: dict[str, str], sandbox: SandboxInfo
) -> None:
    """The staging job's script and after_script, as written, on the sandbox standing in
    for staging (the CI/CD variables in the environment, as GitLab puts them)."""
    variables, credentials = target_and_credentials(sandbox)
    staging = job(GITLAB, "resilience-staging")
    predefined = {"CI_PROJECT_DIR": str(checkout), "CI_PIPELINE_ID": "1"}
    job_variables = {
        k: Template(str(v)).substitute(predefined) for k, v in staging["variables"].items()
    }
    env = job_env(clean_env, **variables, **credentials, **predefined, **job_variables)

    run_shell(SH, "\n".join(staging["script"]), checkout, env)
    env["CI_JOB_STATUS"] = "failed"
    restored = run_shell(SH, "\n".join(staging["after_script"]), checkout, env)

    assert "Nothing to restore" in restored.stdout
    assert Path(env["CHAOS_LEDGER"]).is_file()
    for path in [*staging["artifacts"]["paths"], staging["artifacts"]["reports"]["junit"]]:
        assert (checkout / path).exists(), path


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_staging_job_stops_naming_a_target_variable_that_is_not_set(
    tmp_path: Path, clean_env: dict[str, str], path: Path
) -> None:
    guards = "\n".join(
        line
        for text in shell_texts(job(path, JOBS[path][1]))
        for line in text.splitlines()
        if ":?" in line
    )
    target = {name: "set" for name in TARGET_VARIABLES}
    run_shell(SH, guards, tmp_path, {**clean_env, **target})
    for missing in TARGET_VARIABLES:
        env = {**clean_env, **target, missing: ""}
        stopped = run_shell(SH, guards, tmp_path, env, expect=1)
        assert missing in stopped.stderr


# --- the variables ---------------------------------------------------------------------


def chaos_names(text: str) -> set[str]:
    return set(re.findall(r"\bCHAOS_[A-Z0-9_]+\b", text))


def guarded_names(node: Any) -> set[str]:
    """The variables a job checks are set (`: "${NAME:?...}"`) before it gates."""
    return {m for text in shell_texts(node) for m in re.findall(r"\$\{(\w+):\?", text)}


@pytest.mark.parametrize("path", [GITHUB, GITLAB, README], ids=["github", "gitlab", "readme"])
def test_examples_name_exactly_the_target_variables(path: Path) -> None:
    used = chaos_names(path.read_text())
    assert used - OTHER_CHAOS_VARIABLES == set(TARGET_VARIABLES)


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_staging_job_checks_every_target_variable_before_the_gate(path: Path) -> None:
    assert guarded_names(job(path, JOBS[path][1])) == set(TARGET_VARIABLES)


def test_github_staging_job_takes_each_target_variable_from_its_own_variable() -> None:
    env = job(GITHUB, "staging")["env"]
    target = {name: value for name, value in env.items() if name.startswith("CHAOS_")}
    for name in OTHER_CHAOS_VARIABLES:
        target.pop(name, None)
    assert target == {name: "${{ vars." + name + " }}" for name in TARGET_VARIABLES}


def test_chaos_ledger_names_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHAOS_LEDGER (the only other name) names the ledger the runs and the rollback use."""
    monkeypatch.setenv("CHAOS_LEDGER", "/somewhere/ledger.jsonl")
    assert default_ledger_path() == Path("/somewhere/ledger.jsonl")


# --- the exit codes --------------------------------------------------------------------


def explained_codes(path: Path) -> set[int]:
    """The exit codes of the README's table, or of a YAML file's opening comment."""
    text = path.read_text()
    if path.suffix == ".md":
        return {int(code) for code in re.findall(r"^\| (\d+) \|", text, re.MULTILINE)}
    lines = text.splitlines()
    header = " ".join(
        line for line in lines[: next(i for i, ln in enumerate(lines) if not ln.startswith("#"))]
    )
    return {int(code) for code in re.findall(r"\b(\d+) [a-z]", header)}


@pytest.mark.parametrize("path", [GITHUB, GITLAB, README], ids=["github", "gitlab", "readme"])
def test_examples_explain_every_exit_code(path: Path) -> None:
    assert explained_codes(path) >= {int(code) for code in ExitCode}
