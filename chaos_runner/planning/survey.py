"""What a plan reads of its target, read only: the account, the distribution, the buckets.

``chaos run`` finds its target as :mod:`chaos_runner.controls.sandbox` does: the
``CHAOS_*`` variables (all three), else the sandbox running from this directory, else a
sandbox it starts for the run. A plan finds the same one, and starts nothing:

- a target named by the variables (AWS, or a sandbox on loopback) is read: STS
  GetCallerIdentity (the account of the ARNs; it needs no permission), CloudFront
  GetDistribution (the distribution exists; its domains and config), S3 HeadBucket (the
  bucket exists), the site's pages (its sitemap, as a run reads it), and, for the object
  faults only, the bucket's versioning. A target that does not exist or that the
  credentials cannot read is an error (:class:`~chaos_runner.ConfigurationError`): the plan
  of a run that would fail at once is no plan;
- a sandbox the run would start is not read (it does not exist yet): its names are the ones
  it will have (the distribution id of this directory, the demo bucket, moto's account).

Nothing here writes: no lock, no ledger, no state file (a stale sandbox state file is left
as it is).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from chaos_runner._errors import AwsCallError, ChaosRunnerError, ConfigurationError
from chaos_runner.aws import aws_errors, cloudfront_client, s3_client, sts_client
from chaos_runner.pages import SitePages, site_pages
from chaos_runner.target import TARGET_VARIABLES, Target, configured_value

__all__ = ["SANDBOX_ACCOUNT", "Survey", "TargetKind"]

#: The account moto (the sandbox's AWS) answers for every request.
SANDBOX_ACCOUNT = "123456789012"

TargetKind = Literal["aws", "sandbox", "new sandbox"]

_MISSING = {"NoSuchDistribution", "NoSuchBucket", "404", "NotFound"}
_DENIED = {"AccessDenied", "AccessDeniedException", "403", "Forbidden"}


@dataclass(frozen=True, slots=True)
class _Found:
    """The target a run would act on, and how the plan found it."""

    target: Target
    kind: TargetKind
    propagation_delay: float | None


class Survey:
    """The target of a run, read once (each read is kept for the plans of every experiment).

    Built with :meth:`of`; every read is read-only.
    """

    def __init__(self, found: _Found, configuration: Mapping[str, Any]) -> None:
        self.target = found.target
        self.kind: TargetKind = found.kind
        self.propagation_delay = found.propagation_delay
        self._configuration = dict(configuration)
        self.account = SANDBOX_ACCOUNT
        self.distribution: dict[str, Any] = {}
        self.domain_name = ""
        self._versioning: dict[str, bool | None] = {}
        self._buckets: set[str] = set()
        self._pages: SitePages | None = None
        self.pages_problem = ""

    @classmethod
    def of(cls, configuration: Mapping[str, Any]) -> "Survey":
        """The target of an experiment with ``configuration``, read (or not, see the module)."""
        survey = cls(_find(configuration), configuration)
        if survey.kind != "new sandbox":
            survey._read()
        return survey

    @property
    def label(self) -> str:
        """How the plan names the target."""
        if self.kind == "new sandbox":
            return (
                f"a sandbox `chaos run` starts for the run (no CHAOS_* target is set and none "
                f"runs from this directory): distribution {self.target.distribution_id}, "
                f"bucket {self.target.origin_bucket}"
            )
        where = f"AWS APIs at {self.target.endpoint_url}" if self.target.endpoint_url else "AWS"
        return f"{self.target.label} (account {self.account}; {where})"

    @property
    def domains(self) -> str:
        """Who reads the site: the distribution's aliases and domain, or the sandbox's edge."""
        if self.kind != "aws":
            return f"the sandbox's edge ({self.target.site_url or 'on loopback'})"
        aliases = list((self.distribution.get("Aliases") or {}).get("Items") or [])
        names = [*aliases, self.domain_name] if self.domain_name else aliases
        return ", ".join(names) or f"distribution {self.target.distribution_id}"

    def _read(self) -> None:
        target = self.target
        with _readable("tell which AWS account the credentials act in", "sts"):
            with aws_errors("GetCallerIdentity", "tell which account the credentials act in"):
                identity = sts_client(target.region, target.endpoint_url).get_caller_identity()
            self.account = str(identity["Account"])
        with _readable(f"read distribution {target.distribution_id}", "CHAOS_DISTRIBUTION_ID"):
            cloudfront = cloudfront_client(target.region, target.endpoint_url)
            with aws_errors("GetDistribution", f"read distribution {target.distribution_id}"):
                answer = cloudfront.get_distribution(Id=target.distribution_id)["Distribution"]
            self.distribution = dict(answer["DistributionConfig"])
            self.domain_name = str(answer.get("DomainName", ""))
        self.require_bucket(target.origin_bucket, "CHAOS_ORIGIN_BUCKET")

    def require_bucket(self, bucket: str, named_by: str) -> None:
        """ConfigurationError unless ``bucket`` exists and the credentials may read it."""
        if self.kind == "new sandbox" or bucket in self._buckets:
            return
        with _readable(f"read bucket {bucket}", named_by):
            s3 = s3_client(self.target.region, self.target.endpoint_url)
            with aws_errors("HeadBucket", f"read bucket {bucket}"):
                s3.head_bucket(Bucket=bucket)
        self._buckets.add(bucket)

    def versioned(self, bucket: str) -> bool | None:
        """Whether ``bucket`` keeps versions; None when the plan cannot tell (not read, or
        the credentials may not read its versioning)."""
        if self.kind == "new sandbox":
            return False  # the demo bucket of a new sandbox is not versioned
        if bucket not in self._versioning:
            try:
                s3 = s3_client(self.target.region, self.target.endpoint_url)
                with aws_errors("GetBucketVersioning", f"read the versioning of {bucket}"):
                    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
                self._versioning[bucket] = status == "Enabled"
            except AwsCallError:
                self._versioning[bucket] = None
        return self._versioning[bucket]

    def pages(self) -> SitePages | None:
        """The site's pages, as a run reads them (None, with :attr:`pages_problem`, when
        they cannot be read now)."""
        if self._pages is None and not self.pages_problem:
            if self.kind == "new sandbox":
                self.pages_problem = "the sandbox the run starts is not running yet"
                return None
            try:
                self._pages = site_pages(self._configuration)
            except ChaosRunnerError as error:
                self.pages_problem = str(error)
        return self._pages


def _find(configuration: Mapping[str, Any]) -> _Found:
    """The target ``chaos run`` would use (see the module), found without starting anything."""
    named = [v for v in TARGET_VARIABLES if configured_value(v, configuration)]
    if named:
        missing = [v for v in TARGET_VARIABLES if v not in named]
        if missing:
            raise ConfigurationError(
                f"{', '.join(named)} name a target but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set: set all three "
                f"({', '.join(TARGET_VARIABLES)}) to plan for a distribution, or none to plan "
                "for the sandbox."
            )
        target = Target.resolve(configuration)
        if target.is_sandbox:
            return _Found(target, "sandbox", _sandbox_delay(target.endpoint_url))
        return _Found(target, "aws", None)
    running = _running_sandbox()
    if running is not None:
        return running
    from chaos_runner.sandbox import demo
    from chaos_runner.sandbox.state import default_state_dir, stable_distribution_id

    target = Target(
        site_url="",
        distribution_id=stable_distribution_id(default_state_dir()),
        origin_bucket=demo.BUCKET,
        region=demo.REGION,
        endpoint_url=None,
    )
    return _Found(target, "new sandbox", 0.0)


def _state() -> Any:
    """The sandbox state file of this directory, if one is there and its process lives."""
    from chaos_runner.sandbox.process import pid_alive
    from chaos_runner.sandbox.state import SandboxInfo, default_state_file

    path = default_state_file()
    if not path.is_file():
        return None
    try:
        info = SandboxInfo.read(path)
    except ChaosRunnerError:
        return None
    return info if pid_alive(info.pid) else None


def _running_sandbox() -> _Found | None:
    info = _state()
    if info is None:
        return None
    target = Target(
        site_url=info.edge_url,
        distribution_id=info.distribution_id,
        origin_bucket=info.bucket,
        region=info.region,
        endpoint_url=info.aws_endpoint_url,
        sandbox_admin_url=info.admin_url or None,
    )
    return _Found(target, "sandbox", info.propagation_delay)


def _sandbox_delay(endpoint_url: str | None) -> float | None:
    """The propagation delay of the sandbox at ``endpoint_url``, if its state file is here."""
    info = _state()
    if info is None or info.aws_endpoint_url != endpoint_url:
        return None
    return float(info.propagation_delay)


def _status(error: AwsCallError) -> str:
    """The HTTP status of the answer behind ``error`` ("" when there was none): an error
    body botocore cannot parse leaves the code empty."""
    response = getattr(error.__cause__, "response", None)
    status = (response or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status or "")


@contextmanager
def _readable(what: str, named_by: str) -> Iterator[None]:
    """Turn a failed read into one sentence: missing, refused, or unreachable."""
    try:
        yield
    except AwsCallError as error:
        code = error.code or _status(error)
        if code in _MISSING:
            raise ConfigurationError(
                f"Could not {what}: it does not exist ({error.operation}: {code}). Check "
                f"{named_by}. Nothing was changed."
            ) from error
        if code in _DENIED:
            raise ConfigurationError(
                f"The AWS credentials may not {what} ({error.operation}: {code}); `chaos "
                "plan` reads the target to plan for it (see docs/iam.md for what it reads). "
                "Nothing was changed."
            ) from error
        raise ConfigurationError(f"{error} Nothing was changed.") from error
