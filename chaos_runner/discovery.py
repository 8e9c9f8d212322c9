"""``chaos discover chaostoolkit-cdn``: every action and probe this extension offers.

chaoslib imports a top-level package of the distribution, calls its ``discover`` (this
one, re-exported by ``chaos_runner``) and writes what it returns to ``discovery.json``,
which ``chaos init`` then offers when it builds an experiment.

What is listed: every public module (no leading ``_``) of :mod:`chaos_runner.faults`, as
actions, and of :mod:`probes`, as probes; of each, the functions its ``__all__`` names
that are activities by our convention (JSON-scalar parameters, then ``configuration`` and
``secrets``). The restorers, the helpers and the constants some modules also export are
left out. chaoslib's own scanner (``discover_activities``) would list every function of
``__all__``, name ``configuration`` and ``secrets`` as arguments, and call a parameter
typed ``str | list[str]`` an ``object``, a type ``chaos init`` cannot prompt for.

Each argument carries its default when it has one, and a portable type name that
``chaos init`` can prompt with: a union that accepts a string (``str | list[str]``, the
``expect_status`` spellings) is a ``string``, since each such parameter takes a string (one
path or name, or a comma-separated list where its docstring says so); ``X | None`` is the
type of ``X``.

With ``discover_system``, ``system`` says which target the environment names and whether a
sandbox runs from the current directory, from the environment and the local state files
only: discovery makes no network call (no AWS API, no request to the site).
"""

import importlib
import inspect
import os
import pkgutil
import types
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoslib.types import DiscoveredActivities, Discovery

__all__ = ["discover"]

#: The distribution name, as ``chaos discover`` and ``chaos info extensions`` show it.
EXTENSION_NAME = "chaostoolkit-cdn"
#: The packages whose public modules hold the activities, and the kind of each.
ACTIVITY_PACKAGES = (("chaos_runner.faults", "action"), ("probes", "probe"))
#: Parameters chaoslib passes to an activity itself: not arguments an experiment sets.
INJECTED = ("configuration", "secrets")


def discover(discover_system: bool = True) -> "Discovery":
    """Every action (the faults) and probe of chaostoolkit-cdn, with their arguments.

    With ``discover_system``, also the target the environment names and the sandbox running
    from the current directory, if any (read from local files; no network call).
    """
    from chaoslib.discovery.discover import initialize_discovery_result

    from chaos_runner import __version__

    discovery = initialize_discovery_result(EXTENSION_NAME, __version__, "cloudfront-s3")
    for package, kind in ACTIVITY_PACKAGES:
        for module in public_modules(package):
            discovery["activities"].extend(module_activities(module, kind))
    if discover_system:
        discovery["system"] = system_info()
    return discovery


def public_modules(package: str) -> list[str]:
    """The dotted names of ``package``'s modules that do not start with ``_``, sorted."""
    path = importlib.import_module(package).__path__
    return sorted(
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(path)
        if not info.name.startswith("_")
    )


def is_activity(function: object, module: types.ModuleType) -> bool:
    """True for a function defined in ``module`` that takes ``configuration`` and
    ``secrets``, as every activity of ours does (restorers and helpers do not)."""
    if not inspect.isfunction(function) or function.__module__ != module.__name__:
        return False
    parameters = inspect.signature(function).parameters
    return all(name in parameters for name in INJECTED)


def module_activities(module_name: str, kind: str) -> "DiscoveredActivities":
    """The activities of one module, in chaoslib's discovery format, sorted by name."""
    module = importlib.import_module(module_name)
    exported: list[str] = list(getattr(module, "__all__", []))
    activities = []
    for name in sorted(exported):
        function = getattr(module, name, None)
        if name.startswith("_") or not is_activity(function, module):
            continue
        activities.append(describe(function, name, module_name, kind))
    return activities


def describe(function: Any, name: str, module_name: str, kind: str) -> dict[str, Any]:
    """One activity as chaoslib's discovery lists it (``chaos init`` reads these keys)."""
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):  # a hint only a type checker can resolve: left out
        hints = {}
    activity: dict[str, Any] = {
        "type": kind,
        "name": name,
        "mod": module_name,
        "doc": inspect.getdoc(function),
        "arguments": [],
    }
    if "return" in hints:
        activity["return_type"] = portable_type(hints["return"])
    for parameter in signature.parameters.values():
        if parameter.name in INJECTED or parameter.kind not in (
            parameter.POSITIONAL_ONLY,
            parameter.POSITIONAL_OR_KEYWORD,
        ):
            continue  # chaoslib's own scanner skips keyword-only parameters too
        argument: dict[str, Any] = {"name": parameter.name}
        if parameter.default is not parameter.empty:
            argument["default"] = parameter.default
        argument["type"] = portable_type(hints.get(parameter.name, Any))
        activity["arguments"].append(argument)
    return activity


def portable_type(hint: Any) -> str:
    """chaoslib's portable name for a type hint, unions and generics included.

    ``X | None`` is named as ``X``; a union with ``str`` in it is a ``string`` (what a
    prompt gives, and each of our parameters typed so takes one); a union of numbers is a
    ``number``; ``list[str]`` is a ``list``; a TypedDict or ``dict[...]`` is a ``mapping``.
    Anything else is an ``object``, as chaoslib names it.
    """
    from chaoslib.discovery.discover import portable_type_name

    if hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return _union_type(typing.get_args(hint))
    if typing.is_typeddict(hint):
        return "mapping"
    name: str = portable_type_name(origin if origin is not None else hint)
    return name


def _union_type(members: tuple[Any, ...]) -> str:
    """The portable name of a union of ``members`` (see :func:`portable_type`)."""
    names = {portable_type(member) for member in members if member is not type(None)}
    if len(names) == 1:
        return names.pop()
    if "string" in names:
        return "string"
    return "number" if names <= {"integer", "number"} and names else "object"


def system_info() -> dict[str, Any]:
    """The target the environment names and the sandbox of this directory, from the
    environment and local state files only (no network call, no AWS API)."""
    from chaos_runner.ledger import default_ledger_path
    from chaos_runner.target import Target, target_variables_set

    target = Target.resolve()
    variables = target_variables_set()
    ledger = default_ledger_path()
    return {
        "target": {
            "variables_set": variables,
            "kind": ("sandbox" if target.is_sandbox else "aws") if variables else None,
            "site_url": target.site_url or None,
            "distribution_id": target.distribution_id or None,
            "origin_bucket": target.origin_bucket or None,
            "region": target.region,
            "endpoint_url": target.endpoint_url,
        },
        "sandbox": _sandbox(),
        "ledger": {"path": str(ledger), "exists": ledger.is_file()},
    }


def _sandbox() -> dict[str, Any] | None:
    """The sandbox state file of this directory (``CHAOS_STATE_DIR``), if there is one."""
    from chaos_runner._errors import ChaosRunnerError
    from chaos_runner.sandbox.state import SandboxInfo, default_state_file

    path = default_state_file()
    if not path.is_file():
        return None
    try:
        info = SandboxInfo.read(path)
    except (ChaosRunnerError, OSError, ValueError) as error:
        return {"state_file": str(path), "running": False, "error": str(error)}
    return {
        "state_file": str(path),
        "running": _pid_alive(info.pid),
        "site_url": info.edge_url,
        "aws_endpoint_url": info.aws_endpoint_url,
        "distribution_id": info.distribution_id,
        "origin_bucket": info.bucket,
        "region": info.region,
    }


def _pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (signal 0: nothing is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
