"""Chaos Toolkit's own commands see the extension (issue 10), as real ``chaos`` processes.

``chaos info extensions`` reads the installed metadata; ``chaos discover`` finds the
package of the distribution and calls its ``discover``; ``chaos init`` builds an experiment
from the discovery and ``chaos validate`` checks it. Nothing here leaves loopback:
``chaos discover`` runs with ``--no-install`` (else it runs ``pip install -U``).

``chaos discover`` maps the distribution to a package with importlib's
``packages_distributions()``, which infers it from the files the install's RECORD lists. An
editable install (``pip install -e``, as the dev setup is) lists only a ``.pth`` file, so
chaoslib finds no package at all there. :func:`installed` therefore lays the project out as
``pip install .`` installs its wheel (the wheel's packages, and the dist-info this
environment's install was built with, with a RECORD naming the files) and runs ``chaos``
with it first on ``PYTHONPATH``. The wheel has two top-level packages, ``chaos_runner`` and
``probes``; chaoslib takes whichever comes first in a set, so which one it imports depends
on the interpreter's hash seed: the discover tests run once for each.
"""

import importlib
import importlib.metadata
import inspect
import json
import os
import pkgutil
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.commands import CHAOS, chaos

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "chaostoolkit-cdn"
#: The packages whose public modules hold the activities, and the kind chaos gives each.
ACTIVITY_PACKAGES = {"chaos_runner.faults": "action", "probes": "probe"}
#: Functions the activity modules export that are not activities, each for its reason.
NOT_ACTIVITIES = {
    # the ledger's restorers: they take a ledger entry and are called by the restore
    # action, the safety control and `chaos rollback`, never by an experiment
    "chaos_runner.faults.cloudfront.record_irreversible",
    "chaos_runner.faults.cloudfront.restore_distribution_config",
    "chaos_runner.faults.objects.restore_objects",
    "chaos_runner.faults.origin_link.restore_origin_link",
    "chaos_runner.faults.s3.restore_bucket_policy",
    # helpers of the faults and of the load engine, shared with other modules
    "chaos_runner.faults.s3.target_buckets",
    "probes.histogram.bucket_of",
    "probes.histogram.value_of",
}
#: What chaoslib passes to an activity itself: never an argument of the discovery.
INJECTED = {"configuration", "secrets"}
#: `chaos discover` as the tests run it: no `pip install -U`, into ./discovery.json.
DISCOVER = [
    "discover",
    "--no-install",
    "--no-system-info",
    "--discovery-path",
    "discovery.json",
    DISTRIBUTION,
]


def exported_functions() -> dict[str, tuple[str, Any]]:
    """Every function that a public module of the activity packages lists in ``__all__``
    (and defines), by dotted name: ``(kind, function)``."""
    found = {}
    for package, kind in ACTIVITY_PACKAGES.items():
        path = importlib.import_module(package).__path__
        for info in pkgutil.iter_modules(path):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package}.{info.name}")
            for name in module.__all__:
                value = getattr(module, name)
                if inspect.isfunction(value) and value.__module__ == module.__name__:
                    found[f"{module.__name__}.{name}"] = (kind, value)
    return found


def expected_activities() -> dict[str, tuple[str, Any]]:
    """The functions ``chaos discover`` must list: every exported one but the helpers."""
    exported = exported_functions()
    stale = NOT_ACTIVITIES - exported.keys()
    assert not stale, f"NOT_ACTIVITIES names functions no module exports: {sorted(stale)}"
    return {name: found for name, found in exported.items() if name not in NOT_ACTIVITIES}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the project as ``pip install .`` lays out its wheel."""
    site = tmp_path_factory.mktemp("site")
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    for package in wheel["targets"]["wheel"]["packages"]:
        shutil.copytree(
            ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    dist = importlib.metadata.distribution(DISTRIBUTION)
    name = dist.metadata["Name"].replace("-", "_")
    dist_info = site / f"{name}-{dist.version}.dist-info"
    dist_info.mkdir()
    for file in ("METADATA", "WHEEL", "entry_points.txt"):
        text = dist.read_text(file)
        assert text is not None, f"the installed {DISTRIBUTION} has no {file}"
        (dist_info / file).write_text(text)
    files = sorted(path.relative_to(site).as_posix() for path in site.rglob("*") if path.is_file())
    record = f"{dist_info.name}/RECORD"
    (dist_info / "RECORD").write_text("".join(f"{file},,\n" for file in [*files, record]))
    return site


def installed_env(site: Path, env: dict[str, str], seed: int) -> dict[str, str]:
    """``env`` with ``site`` first on the path and a fixed hash seed."""
    return {**env, "PYTHONPATH": str(site), "PYTHONHASHSEED": str(seed)}


@pytest.fixture(scope="module")
def seeds(installed: Path) -> dict[str, int]:
    """For each package chaoslib may take for the distribution, a hash seed that makes it."""
    probe = (
        "from chaoslib.discovery.package import get_importname_from_package as name; "
        f"print(name({DISTRIBUTION!r}))"
    )
    found: dict[str, int] = {}
    for seed in range(32):
        env = installed_env(installed, _clean_env(installed), seed)
        result = subprocess.run(
            [CHAOS[0], "-c", probe], capture_output=True, text=True, env=env, check=True
        )
        found.setdefault(result.stdout.strip(), seed)
        if len(found) == 2:
            break
    assert set(found) == {"chaos_runner", "probes"}, found
    return found


@pytest.fixture(scope="module")
def discovery_file(
    installed: Path, seeds: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``discovery.json`` as ``chaos discover`` wrote it, chaoslib having taken chaos_runner."""
    cwd = tmp_path_factory.mktemp("discovered")
    env = installed_env(installed, _clean_env(cwd), seeds["chaos_runner"])
    result = chaos(DISCOVER, cwd, env)
    assert result.returncode == 0, result.stderr
    assert (cwd / "discovery.json").is_file(), result.stdout + result.stderr
    return cwd / "discovery.json"


def _clean_env(cwd: Path) -> dict[str, str]:
    """The ``clean_env`` fixture's environment, for module-scoped fixtures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "AWS_"))}
    env["CHAOS_STATE_DIR"] = str(cwd / ".chaos")
    return env


def test_info_extensions_lists_the_extension_with_version_and_license(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos(["info", "extensions"], tmp_path, clean_env)

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    ours = [row for row in rows if row and row[0] == DISTRIBUTION]
    assert len(ours) == 1, result.stdout
    assert ours[0][1:3] == [importlib.metadata.version(DISTRIBUTION), "Apache-2.0"]


def test_the_installed_metadata_names_the_license_for_chaos_info() -> None:
    metadata = importlib.metadata.metadata(DISTRIBUTION)

    assert metadata["License"] == "Apache-2.0"


@pytest.mark.parametrize(
    "package",
    ["chaos_runner", "probes"],
)
def test_discover_writes_the_discovery_whichever_package_chaoslib_takes(
    package: str, installed: Path, seeds: dict[str, int], tmp_path: Path, clean_env: dict[str, str]
) -> None:
    result = chaos(DISCOVER, tmp_path, installed_env(installed, clean_env, seeds[package]))

    assert result.returncode == 0, result.stderr
    assert "CRITICAL" not in result.stdout + result.stderr, result.stdout + result.stderr
    discovery = json.loads((tmp_path / "discovery.json").read_text())
    assert discovery["extension"]["name"] == DISTRIBUTION
    assert discovery["activities"]


def test_discover_lists_every_fault_and_probe_and_nothing_else(discovery_file: Path) -> None:
    discovery = json.loads(discovery_file.read_text())

    assert discovery["extension"] == {
        "name": DISTRIBUTION,
        "version": importlib.metadata.version(DISTRIBUTION),
    }
    assert discovery["system"] is None  # --no-system-info
    listed = {f"{a['mod']}.{a['name']}": a["type"] for a in discovery["activities"]}
    assert len(listed) == len(discovery["activities"]), "an activity is listed twice"
    expected = {name: kind for name, (kind, _) in expected_activities().items()}
    assert listed == expected
    assert not [name for name in listed if name.rsplit(".", 1)[1].startswith("_")]


def test_discover_lists_each_activitys_arguments_with_defaults_and_prompt_types(
    discovery_file: Path,
) -> None:
    discovery = json.loads(discovery_file.read_text())
    functions = expected_activities()

    for activity in discovery["activities"]:
        dotted = f"{activity['mod']}.{activity['name']}"
        signature = inspect.signature(functions[dotted][1])
        assert set(signature.parameters) >= INJECTED, f"{dotted} is not an activity"
        params = [p for name, p in signature.parameters.items() if name not in INJECTED]
        arguments = activity["arguments"]
        assert [a["name"] for a in arguments] == [p.name for p in params], dotted
        for argument, param in zip(arguments, params, strict=True):
            where = f"{dotted}({param.name})"
            if param.default is param.empty:
                assert "default" not in argument, where
            else:
                assert argument["default"] == param.default, where
            # `chaos init` prompts with this type: it needs one, and cannot convert to object
            assert argument["type"] in {"string", "integer", "number", "boolean", "mapping"}, where
        assert activity["doc"], f"{dotted} has no docstring to show in chaos init"

    by_name = {a["name"]: a for a in discovery["activities"]}
    assert by_name["purge_cache"]["arguments"] == [
        {"name": "paths", "default": "/*", "type": "string"},
        {"name": "acknowledge_irreversible", "default": False, "type": "boolean"},
        {"name": "timeout", "default": 900.0, "type": "number"},
    ]
    assert by_name["responses"]["arguments"][0] == {"name": "paths", "type": "string"}
    availability = by_name["availability"]["arguments"]
    assert {"name": "expect_status", "default": None, "type": "string"} in availability


def test_discover_with_system_info_names_the_target_from_the_environment(
    installed: Path, seeds: dict[str, int], tmp_path: Path, clean_env: dict[str, str]
) -> None:
    env = installed_env(installed, clean_env, seeds["chaos_runner"])
    # nothing listens on these (port 9 is discard): discovery must not call them anyway
    env |= {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "CHAOS_SITE_URL": "http://127.0.0.1:9",
        "CHAOS_DISTRIBUTION_ID": "E123EXAMPLE0000",
        "CHAOS_ORIGIN_BUCKET": "www.example.test",
    }
    args = [arg for arg in DISCOVER if arg != "--no-system-info"]
    result = chaos(args, tmp_path, env)

    assert result.returncode == 0, result.stderr
    system = json.loads((tmp_path / "discovery.json").read_text())["system"]
    assert system["target"] == {
        "variables_set": ["CHAOS_SITE_URL", "CHAOS_DISTRIBUTION_ID", "CHAOS_ORIGIN_BUCKET"],
        "kind": "sandbox",
        "site_url": "http://127.0.0.1:9",
        "distribution_id": "E123EXAMPLE0000",
        "origin_bucket": "www.example.test",
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:9",
    }
    assert system["sandbox"] is None
    assert system["ledger"] == {"path": str(tmp_path / ".chaos" / "ledger.jsonl"), "exists": False}


def init_answers(discovery: dict[str, Any], probe: str, action: str) -> str:
    """What a user types at ``chaos init`` for: a steady state with ``probe`` (paths /posts/,
    other arguments default), a method with ``action`` (verify_timeout 12.5), no rollback."""
    activities = discovery["activities"]
    probes = [a for a in activities if a["type"] == "probe"]
    chosen_probe = next(a for a in probes if a["name"] == probe)
    chosen_action = next(a for a in activities if a["name"] == action)

    def arguments(activity: dict[str, Any], typed: dict[str, str]) -> list[str]:
        return [typed.get(arg["name"], "") for arg in activity["arguments"]]

    lines = [
        "The site survives an origin outage",  # Experiment's title
        "y",  # define a steady state hypothesis now?
        "The posts are served",  # Hypothesis's title
        str(probes.index(chosen_probe) + 1),  # Activity (0 to escape)
        "y",  # use this probe?
        "true",  # the tolerance
        *arguments(chosen_probe, {"paths": "/posts/"}),
        "n",  # select another activity?
        "y",  # define an experimental method?
        str(activities.index(chosen_action) + 1),
        "y",  # use this action?
        *arguments(chosen_action, {"verify_timeout": "12.5"}),
        "n",  # select another activity?
        "n",  # add some rollbacks now?
    ]
    return "\n".join(lines) + "\n"


def test_init_builds_an_experiment_of_our_activities_that_validate_accepts(
    discovery_file: Path, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    shutil.copy(discovery_file, tmp_path / "discovery.json")
    discovery = json.loads(discovery_file.read_text())
    answers = init_answers(discovery, probe="availability", action="deny_origin_reads")
    init = subprocess.run(
        [*CHAOS, "init", "--discovery-path", "discovery.json", "--experiment-path", "exp.json"],
        input=answers,
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr

    experiment = json.loads((tmp_path / "exp.json").read_text())
    [probe] = experiment["steady-state-hypothesis"]["probes"]
    assert probe["type"] == "probe"
    assert probe["provider"]["module"] == "probes.http"
    assert probe["provider"]["func"] == "availability"
    assert probe["provider"]["arguments"]["paths"] == "/posts/"
    assert probe["provider"]["arguments"]["expect_status"] is None
    assert "configuration" not in probe["provider"]["arguments"]
    [action] = experiment["method"]
    assert action["type"] == "action"
    assert action["provider"] == {
        "type": "python",
        "module": "chaos_runner.faults.s3",
        "func": "deny_origin_reads",
        "arguments": {"bucket": "", "verify_key": "", "verify_timeout": 12.5},
    }

    validate = chaos(["validate", "exp.json"], tmp_path, clean_env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "experiment syntax and semantic look valid" in validate.stdout + validate.stderr
