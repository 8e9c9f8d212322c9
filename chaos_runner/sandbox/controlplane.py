"""The sandbox's AWS control plane: moto in server mode, in a thread of the sandbox process.

moto's backends are process-wide state. This module is the one place that touches them:
it starts and stops the werkzeug server, resets the backends on stop, and lets the edge
listen to CloudFront API calls (``create_invalidation``, ``update_distribution``) so that a
change made with boto3 or the AWS CLI is in effect at the edge when the API call returns.
"""

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_runner._errors import SandboxError

__all__ = ["CloudFrontListener", "ControlPlane", "listen_to_cloudfront"]

#: Called with (distribution id, invalidation paths) after moto stored an invalidation.
InvalidationListener = Callable[[str, Sequence[str]], None]
#: Called with the distribution id after moto stored a new DistributionConfig.
ConfigListener = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CloudFrontListener:
    """What the edge wants to hear of the CloudFront API."""

    on_invalidation: InvalidationListener
    on_config_change: ConfigListener


# Global state, in one labelled place: the listeners of moto's (process-wide) CloudFront
# backend, and whether its methods are already wrapped.
_LISTENERS: list[CloudFrontListener] = []
_HOOK_LOCK = threading.Lock()
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
    global _HOOKED  # noqa: PLW0603 - the one flag that guards wrapping moto's class once
    with _HOOK_LOCK:
        if _HOOKED:
            return
        from moto.cloudfront.models import CloudFrontBackend

        create_invalidation = CloudFrontBackend.create_invalidation
        update_distribution = CloudFrontBackend.update_distribution

        def hooked_create_invalidation(
            self: Any, dist_id: str, paths: list[str], caller_ref: str
        ) -> Any:
            invalidation = create_invalidation(self, dist_id, paths, caller_ref)
            for listener in list(_LISTENERS):
                listener.on_invalidation(dist_id, list(paths))
            return invalidation

        def hooked_update_distribution(
            self: Any, dist_config: dict[str, Any], _id: str, if_match: bool
        ) -> Any:
            result = update_distribution(self, dist_config, _id, if_match)
            for listener in list(_LISTENERS):
                listener.on_config_change(_id)
            return result

        CloudFrontBackend.create_invalidation = hooked_create_invalidation  # type: ignore[method-assign]
        CloudFrontBackend.update_distribution = hooked_update_distribution  # type: ignore[method-assign]
        _HOOKED = True


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
