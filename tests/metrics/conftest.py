"""Real Prometheus servers for the metrics tests: Debian's Pushgateway and Prometheus.

Each is started on a free loopback port, waited for (bounded), and stopped at the end. A
machine without them skips nothing: `.ci/system-packages` installs them, and the tests
fail saying which binary is missing.
"""

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

PUSHGATEWAY = "prometheus-pushgateway"
PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
#: Longest a server may take to answer /-/ready (both take well under a second).
READY_TIMEOUT_S = 20.0


def binary(name: str) -> str:
    """The path of a Debian binary the tests drive; a failure naming it when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/bin")
    if path is None:
        pytest.fail(f"{name} is not installed: run `bash .ci/system-packages` (apt).")
    return path


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> str:
    """The body of a GET (raises on an HTTP error or no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        error.close()  # it holds the connection
        raise


def get_json(url: str, timeout: float = 5.0) -> Any:
    """The JSON body of a GET."""
    return json.loads(get(url, timeout))


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.05) -> Any:
    """The first truthy value of ``condition()``, polled until ``timeout``; fails saying what."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as error:
            last_error, value = error, None
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


def gauge(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one series in a text exposition, or None."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


@contextmanager
def server(command: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; wait for ``ready_url`` to answer first."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: process.poll() is None and get(ready_url, timeout=1) is not None,
            READY_TIMEOUT_S,
            f"{command[0]} to answer {ready_url} (log: {log})",
        )
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def pushgateway(directory: Path) -> Iterator[str]:
    """A Pushgateway on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        binary(PUSHGATEWAY),
        f"--web.listen-address=127.0.0.1:{port}",
        # Debian's default is /var/lib/prometheus/pushgateway.data, shared by every run
        f"--persistence.file={directory / 'pushgateway.data'}",
    ]
    with server(command, f"{url}/-/ready", directory / "pushgateway.log"):
        yield url


@contextmanager
def prometheus(directory: Path, scraped: str) -> Iterator[str]:
    """A Prometheus scraping the Pushgateway at ``scraped`` every second; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = directory / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['{urllib.parse.urlsplit(scraped).netloc}']}}]\n"
    )
    command = [
        binary(PROMETHEUS),
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with server(command, f"{url}/-/ready", directory / "prometheus.log"):
        yield url


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query (``/api/v1/query``)."""
    answer = get_json(f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def promtool_check(exposition: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` on ``exposition`` (its stdin)."""
    return subprocess.run(
        [binary(PROMTOOL), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def a_pushgateway(tmp_path: Path) -> Iterator[str]:
    """A Pushgateway of the test's own."""
    with pushgateway(tmp_path) as url:
        yield url
