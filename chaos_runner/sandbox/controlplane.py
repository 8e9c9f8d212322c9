"""The sandbox's AWS control plane: moto in server mode, in a thread of the sandbox process.

moto's backends are process-wide state. This module is the one place that touches them:
it starts and stops the werkzeug server, resets the backends on stop, and lets the edge
listen to CloudFront API calls (``create_invalidation``, ``update_distribution``).

What the hooks change in moto's CloudFront, so that the API reads as CloudFront's does:

- An invalidation is ``InProgress`` until the listener serving its distribution says it is
  in effect at every POP, then ``Completed`` (moto alone says ``COMPLETED`` at once, which
  boto3's ``invalidation_completed`` waiter never accepts). An invalidation of a
  distribution no listener serves is ``Completed`` when created. The distribution's
  ``InProgressInvalidationBatches`` counts the ones in progress.
- A distribution is ``InProgress`` from ``update_distribution`` until the listener says
  the new config is served, then ``Deployed``.
- ``create_invalidation`` is refused with ``TooManyInvalidationsInProgress`` beyond
  CloudFront's limits: 3,000 paths in progress per distribution, or 15 wildcard paths
  (Developer Guide, "Concurrent invalidation request maximum").

moto draws a distribution's id at random and takes none from the caller, so a sandbox
that wants a stable id (the same one after every restart from the same directory) has
moto create the distribution and then gives it the wanted id in the backend
(:func:`assign_distribution_id`), before anything else has seen the random one.

A listener that takes charge of a change calls the ``done`` callback it is given once the
change is in effect; the callback may be called from any thread.

One change for speed: moto's server lists its own package directory (``os.listdir`` and
some 180 ``stat`` calls) twice for every request it serves, to learn which services exist.
The sandbox lists it once: an anonymous GET of a missing key takes moto 0.8 ms instead of
2.5 ms, and moto's time is what the website endpoint emulator (and so every cache miss at
the edge) waits for.
"""

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_runner._errors import SandboxError

__all__ = [
    "MAX_PATHS_IN_PROGRESS",
    "MAX_WILDCARD_PATHS_IN_PROGRESS",
    "CloudFrontListener",
    "ControlPlane",
    "assign_distribution_id",
    "listen_to_cloudfront",
]

#: CloudFront's limits on invalidation paths in progress per distribution.
MAX_PATHS_IN_PROGRESS = 3000
MAX_WILDCARD_PATHS_IN_PROGRESS = 15

#: Marks a change as in effect (callable once, from any thread).
Done = Callable[[], None]
#: (distribution id, invalidation paths, done) -> True when the listener takes charge.
InvalidationListener = Callable[[str, Sequence[str], Done], bool]
#: (distribution id, done) -> True when the listener takes charge of the new config.
ConfigListener = Callable[[str, Done], bool]

_IN_PROGRESS = "InProgress"
_COMPLETED = "Completed"
#: The attribute (in a moto Distribution's __dict__) counting config changes in progress.
_PENDING = "_sandbox_changes_in_progress"


@dataclass(frozen=True, slots=True)
class CloudFrontListener:
    """What the edge wants to hear of the CloudFront API."""

    on_invalidation: InvalidationListener
    on_config_change: ConfigListener


# Global state, in one labelled place: the listeners of moto's (process-wide) CloudFront
# backend, and whether its classes are already patched. _STATE_LOCK guards the status
# counters that moto's request threads and the sandbox's loop both change.
_LISTENERS: list[CloudFrontListener] = []
_HOOK_LOCK = threading.Lock()
_STATE_LOCK = threading.Lock()
_HOOKED = False


def listen_to_cloudfront(listener: CloudFrontListener) -> Callable[[], None]:
    """Register ``listener`` on moto's CloudFront backend; return a function that removes it."""
    _install_hooks()
    with _HOOK_LOCK:
        _LISTENERS.append(listener)

    def remove() -> None:
        with _HOOK_LOCK:
            if listener in _LISTENERS:
                _LISTENERS.remove(listener)

    return remove


def _install_hooks() -> None:
    global _HOOKED  # noqa: PLW0603 - the one flag that guards patching moto's classes once
    with _HOOK_LOCK:
        if _HOOKED:
            return
        from moto.cloudfront.models import CloudFrontBackend, Distribution

        create_invalidation = CloudFrontBackend.create_invalidation
        update_distribution = CloudFrontBackend.update_distribution
        managed_status: Any = Distribution.status  # moto's ManagedState property

        def hooked_create_invalidation(
            self: Any, dist_id: str, paths: list[str], caller_ref: str
        ) -> Any:
            if dist_id in self.distributions:
                _check_invalidation_limits(self.invalidations.get(dist_id) or (), paths)
            invalidation = create_invalidation(self, dist_id, paths, caller_ref)
            _track_invalidation(invalidation, dist_id, list(paths))
            return invalidation

        def hooked_update_distribution(
            self: Any, dist_config: dict[str, Any], _id: str, if_match: bool
        ) -> Any:
            result = update_distribution(self, dist_config, _id, if_match)
            _track_config_change(self.distributions[_id], _id)
            return result

        def status(self: Any) -> str | None:
            if self.__dict__.get(_PENDING, 0):
                return _IN_PROGRESS
            found: str | None = managed_status.fget(self)
            return found

        CloudFrontBackend.create_invalidation = hooked_create_invalidation  # type: ignore[method-assign]
        CloudFrontBackend.update_distribution = hooked_update_distribution  # type: ignore[method-assign]
        Distribution.status = property(status, managed_status.fset)  # type: ignore[method-assign,assignment]
        _HOOKED = True


def assign_distribution_id(current: str, wanted: str) -> None:
    """Give the distribution ``current`` of moto's CloudFront the id ``wanted``.

    Everything moto keys by the id moves with it: the distribution's ``Id`` and ARN, its
    place in the backend, its tags and its invalidations. Call it right after
    ``create_distribution``, before the id is handed to anyone. SandboxError when no
    distribution has the id ``current`` or one already has ``wanted``.
    """
    from moto.cloudfront.models import cloudfront_backends

    if current == wanted:
        return
    for account in list(cloudfront_backends.values()):
        for backend in list(account.values()):
            distribution = backend.distributions.get(current)
            if distribution is None:
                continue
            if wanted in backend.distributions:
                raise SandboxError(f"moto already has a distribution {wanted}.")
            old_arn = distribution.arn
            distribution.distribution_id = distribution.id = wanted
            distribution.arn = old_arn.rsplit("/", 1)[0] + f"/{wanted}"
            backend.distributions = {  # the same order: ListDistributions reads the same
                (wanted if key == current else key): value
                for key, value in backend.distributions.items()
            }
            if current in backend.invalidations:
                backend.invalidations[wanted] = backend.invalidations.pop(current)
            backend.tagger.copy_tags(old_arn, distribution.arn)
            backend.tagger.delete_all_tags_for_resource(old_arn)
            return
    raise SandboxError(f"moto has no distribution {current} to give the id {wanted}.")


def _list_moto_modules_once() -> None:
    """Make moto's ``list_of_moto_modules`` answer from one listing of its package.

    Idempotent: a second call lists the first call's answer again.
    """
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _check_invalidation_limits(existing: Sequence[Any], paths: Sequence[str]) -> None:
    from moto.cloudfront.exceptions import CloudFrontException

    in_progress = [path for inv in existing if inv.status == _IN_PROGRESS for path in inv.paths]
    wildcards = sum("*" in path for path in [*in_progress, *paths])
    files = len(in_progress) + len(paths) - wildcards
    if wildcards > MAX_WILDCARD_PATHS_IN_PROGRESS or files > MAX_PATHS_IN_PROGRESS:
        raise CloudFrontException(
            "TooManyInvalidationsInProgress",
            "Processing your request will cause you to exceed the maximum number of "
            f"in-progress invalidation paths ({MAX_PATHS_IN_PROGRESS} files, or "
            f"{MAX_WILDCARD_PATHS_IN_PROGRESS} wildcard paths, per distribution); "
            f"{len(in_progress)} paths are in progress.",
        )


def _track_invalidation(invalidation: Any, dist_id: str, paths: list[str]) -> None:
    distribution = invalidation.distribution
    with _STATE_LOCK:
        invalidation.status = _IN_PROGRESS
        distribution.in_progress_invalidation_batches += 1
    completed = threading.Event()

    def done() -> None:
        with _STATE_LOCK:
            if completed.is_set():
                return
            completed.set()
            invalidation.status = _COMPLETED
            distribution.in_progress_invalidation_batches -= 1

    if not _notify(lambda listener: listener.on_invalidation(dist_id, paths, done)):
        done()


def _track_config_change(distribution: Any, dist_id: str) -> None:
    with _STATE_LOCK:
        distribution.__dict__[_PENDING] = distribution.__dict__.get(_PENDING, 0) + 1
    deployed = threading.Event()

    def done() -> None:
        with _STATE_LOCK:
            if deployed.is_set():
                return
            deployed.set()
            distribution.__dict__[_PENDING] -= 1

    if not _notify(lambda listener: listener.on_config_change(dist_id, done)):
        done()


def _notify(call: Callable[[CloudFrontListener], bool]) -> bool:
    """Tell every listener; True when one of them took charge."""
    taken = False
    for listener in list(_LISTENERS):
        taken = call(listener) or taken
    return taken


class ControlPlane:
    """moto's server on a loopback port, serving S3, CloudFront and CloudWatch."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """The URL to give boto3 and the AWS CLI as AWS_ENDPOINT_URL."""
        if self._server is None:
            raise SandboxError("The control plane is not running; start() it first.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Bind the port (failing at once with a clear message) and serve in a thread."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with _HOOK_LOCK:
            _list_moto_modules_once()
        app = DomainDispatcherApplication(create_backend_app)
        # Bind here rather than in werkzeug, which prints and exits when the port is taken.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self._port))
            listener.listen(128)
        except OSError as error:
            listener.close()
            raise SandboxError(
                f"The sandbox cannot listen on {self._host}:{self._port} for its AWS APIs "
                f"({error.strerror or error}): the port is in use by another sandbox or "
                "program. Stop it (`chaos sandbox down`) or pick another port with --aws-port."
            ) from error
        try:
            self._server = make_server(
                self._host,
                self._port,
                app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # werkzeug holds its own duplicate of the descriptor
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-moto", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and forget every AWS resource (moto's backends are reset)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        from moto.core.base_backend import BackendDict

        BackendDict.reset()
