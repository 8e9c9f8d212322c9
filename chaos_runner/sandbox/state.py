"""Where a running sandbox is: its state file, and the environment that points tools at it."""

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from chaos_runner._errors import SandboxError
from chaos_runner.aws import LOOPBACK_ACCESS_KEY, LOOPBACK_SECRET_KEY

__all__ = [
    "DISTRIBUTION_ID",
    "SANDBOX_VARIABLES",
    "TRUST_VARIABLES",
    "SandboxInfo",
    "default_state_dir",
    "default_state_file",
    "stable_distribution_id",
]

#: Credentials the sandbox hands to the tools it points at itself (moto accepts any key):
#: the ones chaos_runner.aws uses for a loopback endpoint when the shell has none.
SANDBOX_ACCESS_KEY = LOOPBACK_ACCESS_KEY
SANDBOX_SECRET_KEY = LOOPBACK_SECRET_KEY


#: The variables that make clients trust the sandbox's test CA, each set to its trust
#: bundle (the trust store in effect when it started, plus the CA): OpenSSL, Python's ssl
#: and Go programs read SSL_CERT_FILE; requests, and botocore when AWS_CA_BUNDLE is unset,
#: REQUESTS_CA_BUNDLE; curl CURL_CA_BUNDLE. AWS_CA_BUNDLE is left alone: the sandbox's
#: AWS endpoint is plain HTTP.
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

#: Every variable ``chaos sandbox env`` prints (those after ``CHAOS_ORIGIN_BUCKET`` when
#: the sandbox has them), in its order; ``chaos sandbox env --unset`` unsets them all.
SANDBOX_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "CHAOS_SITE_URL",
    "CHAOS_DISTRIBUTION_ID",
    "CHAOS_ORIGIN_BUCKET",
    "CHAOS_FAILOVER_BUCKET",
    "CHAOS_SANDBOX_ADMIN_URL",
    "CHAOS_SITE_HTTPS_URL",
    *TRUST_VARIABLES,
)

#: What a CloudFront distribution id looks like: ``E`` and 13 upper-case letters or digits.
DISTRIBUTION_ID = re.compile(r"^E[0-9A-Z]{13}$")
_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def stable_distribution_id(state_dir: Path) -> str:
    """The id of the demo distribution of every sandbox kept in ``state_dir``.

    Derived from the directory's absolute path (symbolic links resolved), so a sandbox
    started again from the same directory has the same id and a ``hugo.toml`` naming it
    needs no edit; sandboxes of other directories have others. ``E`` and 13 base-36 digits
    of the path's SHA-256, as CloudFront's ids look.
    """
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).digest()
    number = int.from_bytes(digest, "big")
    digits = []
    for _ in range(13):
        number, digit = divmod(number, len(_ID_DIGITS))
        digits.append(_ID_DIGITS[digit])
    return "E" + "".join(digits)


def default_state_dir() -> Path:
    """``CHAOS_STATE_DIR`` or ``.chaos`` in the current directory (beside the ledger)."""
    return Path(os.environ.get("CHAOS_STATE_DIR") or ".chaos")


def default_state_file() -> Path:
    """The file a running sandbox describes itself in."""
    return default_state_dir() / "sandbox.json"


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    """A running sandbox, as written to its state file.

    The fields after ``startup_seconds`` have defaults so that a state file written by an
    earlier version still reads.
    """

    pid: int
    aws_endpoint_url: str
    edge_url: str
    website_url: str
    region: str
    distribution_id: str
    bucket: str
    started_at: float
    startup_seconds: float
    #: Every POP's URL by POP name (the first POP's is ``edge_url``).
    pop_urls: dict[str, str] = field(default_factory=dict, hash=False)
    #: The admin API (origin link and certificate faults); empty when the sandbox has none.
    admin_url: str = ""
    #: The origin group's secondary bucket; empty when the sandbox has none.
    failover_bucket: str = ""
    #: Seconds between a CloudFront API change and its effect at the edge (at start).
    propagation_delay: float = 0.0
    #: The built site it serves in both buckets (absolute); empty: the demo site.
    site_dir: str = ""
    #: The site over HTTPS (the first POP); empty when the sandbox has no HTTPS.
    https_url: str = ""
    #: The test CA's certificate (PEM) that signed the site's certificate.
    ca_file: str = ""
    #: The trust store in effect when the sandbox started, plus the test CA (PEM).
    trust_bundle: str = ""

    def environment(self) -> dict[str, str]:
        """The variables that make boto3, the AWS CLI, hugo deploy and our probes use it, and
        clients trust its HTTPS (:data:`TRUST_VARIABLES`)."""
        variables = {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": SANDBOX_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET_KEY,
            "CHAOS_SITE_URL": self.edge_url,
            "CHAOS_DISTRIBUTION_ID": self.distribution_id,
            "CHAOS_ORIGIN_BUCKET": self.bucket,
        }
        if self.failover_bucket:
            variables["CHAOS_FAILOVER_BUCKET"] = self.failover_bucket
        if self.admin_url:
            variables["CHAOS_SANDBOX_ADMIN_URL"] = self.admin_url
        if self.https_url:
            variables["CHAOS_SITE_HTTPS_URL"] = self.https_url
        if self.trust_bundle:
            variables.update(dict.fromkeys(TRUST_VARIABLES, self.trust_bundle))
        return variables

    def hugo_deployment(self) -> str:
        """The ``[deployment]`` block of a ``hugo.toml`` that deploys to this sandbox.

        Hugo's S3 driver (gocloud.dev) takes the endpoint in the target URL, with
        ``use_path_style=true`` (moto serves buckets by path, not by host name); the
        CloudFront invalidation of ``hugo deploy --invalidateCDN`` goes to
        ``AWS_ENDPOINT_URL`` from the environment, as do the credentials.
        """
        url = (
            f"s3://{self.bucket}?region={self.region}"
            f"&endpoint={self.aws_endpoint_url}&use_path_style=true"
        )
        return "\n".join(
            [
                "# hugo deploy to the chaostoolkit-cdn sandbox; run it with the sandbox's",
                '# variables set: eval "$(chaos sandbox env)"',
                "[deployment]",
                "[[deployment.targets]]",
                'name = "sandbox"',
                f"URL = {json.dumps(url)}",
                f"cloudFrontDistributionID = {json.dumps(self.distribution_id)}",
            ]
        )

    def summary(self) -> str:
        """Where the site and the APIs are, in a few lines for people."""
        lines = [
            f"site (edge):  {self.edge_url}/",
            f"AWS APIs:     {self.aws_endpoint_url} (S3, CloudFront, CloudWatch, ACM, Route 53)",
            f"distribution: {self.distribution_id}",
            f"bucket:       {self.bucket} (website endpoint {self.website_url})",
        ]
        if self.https_url:
            lines.insert(1, f"site (HTTPS): {self.https_url}/ (test CA {self.ca_file})")
        if self.failover_bucket:
            lines.append(f"failover:     {self.failover_bucket} (secondary of the origin group)")
        if len(self.pop_urls) > 1:
            pops = ", ".join(f"{name} {url}" for name, url in self.pop_urls.items())
            lines.append(f"POPs:         {pops} (or header X-Chaos-Pop: <name>)")
        lines.append(f"site files:   {self.site_dir or 'the demo site'}")
        lines.append(f"propagation:  {_seconds(self.propagation_delay)} per CloudFront change")
        if self.admin_url:
            lines.append(f"admin API:    {self.admin_url} (origin link, certificate faults)")
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        """Write the state file atomically (readers never see half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sandbox-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> "SandboxInfo":
        """Read a state file; SandboxError if it is missing or not ours."""
        try:
            data = json.loads(path.read_text())
            known = {item.name for item in fields(cls)}
            return cls(**{name: value for name, value in data.items() if name in known})
        except FileNotFoundError as error:
            raise SandboxError(
                f"No sandbox state file at {path}: no sandbox was started from this "
                "directory. Start one with `chaos sandbox up --detach`."
            ) from error
        except (ValueError, TypeError, AttributeError) as error:
            raise SandboxError(
                f"The sandbox state file {path} is unreadable ({error}). If no sandbox is "
                "running, delete the file."
            ) from error


def _seconds(value: float) -> str:
    if value == 0:
        return "0 s (immediate)"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:g} s"
