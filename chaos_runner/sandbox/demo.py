"""The demo site's AWS resources, as the sandbox creates them on start.

They mirror what the users of this tool run (see USERS.md): a bucket named after the host,
website hosting with ``index.html``/``404.html``, a public-read bucket policy, and a
distribution whose origin is the bucket's S3 *website* endpoint as a custom origin.

High availability: a second bucket, :data:`FAILOVER_BUCKET`, holds the same site built with
``HUGO_PARAMS_ORIGIN=secondary`` (every page says ``content="secondary"`` in its
``chaos-demo-origin`` meta tag and "Served by the secondary origin" in its footer), and
an origin group sends ``/posts/*`` to the main bucket with failover to that one on
:data:`FAILOVER_STATUS_CODES`. Why only ``/posts/*``: moto refuses an origin group as the
default behavior's target, and the rest of the site keeps the single-origin behavior that
the origin-outage experiment observes. Why 500, 502, 503 and 504 and not 403/404: the
origins are website endpoints (custom origins), where a 404 is a page that is missing from
both copies and a 403 is the bucket policy refusing reads, a mistake the origin-outage
experiment wants to see rather than have masked. A team whose origin is an S3 REST
endpoint, where a missing object answers 403, would add 403 and 404.

Which origin served a page is also in its S3 metadata, so that a site without the meta tag
(``--site-dir``) tells it too: the sandbox uploads every object of the main bucket with
``chaos-origin: primary`` and of the failover bucket with ``chaos-origin: secondary``
(:data:`ORIGIN_METADATA`); the website endpoint answers it as ``x-amz-meta-chaos-origin``,
and the edge passes it to viewers as CloudFront does.

HTTPS and DNS, as the users' sites have them: the site's host name (:data:`SITE_HOST`, the
bucket's name) is the distribution's alternate domain name, served with an ACM certificate
in us-east-1 (SNI only; :func:`viewer_certificate`), and a public hosted zone for
:data:`HOSTED_ZONE` holds A and AAAA alias records of that name to the distribution's
domain name (:func:`alias_records`; :data:`CLOUDFRONT_HOSTED_ZONE_ID` is the hosted zone
id every CloudFront alias target has).
"""

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "BUCKET",
    "CLOUDFRONT_HOSTED_ZONE_ID",
    "FAILOVER_BUCKET",
    "FAILOVER_ORIGIN_ID",
    "FAILOVER_PATH_PATTERN",
    "FAILOVER_STATUS_CODES",
    "HOSTED_ZONE",
    "ORIGIN_GROUP_ID",
    "ORIGIN_ID",
    "ORIGIN_METADATA",
    "REGION",
    "SITE_HOST",
    "alias_records",
    "demo_distribution_config",
    "public_read_policy",
    "site_root",
    "viewer_certificate",
    "website_domain",
]

BUCKET = "www.chaos-demo.test"
FAILOVER_BUCKET = "www.chaos-demo.test-failover"
REGION = "us-east-1"
ORIGIN_ID = "s3-website-origin"
FAILOVER_ORIGIN_ID = "s3-website-failover"
ORIGIN_GROUP_ID = "s3-website-group"
FAILOVER_PATH_PATTERN = "/posts/*"
FAILOVER_STATUS_CODES = (500, 502, 503, 504)
#: The user metadata naming an object's origin (header ``x-amz-meta-chaos-origin``; the
#: probes read that header, see ``probes._client.ORIGIN_HEADER``).
ORIGIN_METADATA = "chaos-origin"
#: The site's host name (the bucket is named after it, as `aws s3 cp` users name theirs).
SITE_HOST = BUCKET
#: The public hosted zone of the site's domain.
HOSTED_ZONE = "chaos-demo.test"
#: The hosted zone id of every CloudFront distribution as a Route 53 alias target.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"


def website_domain(bucket: str, region: str = REGION) -> str:
    """The S3 website endpoint host name of ``bucket`` (the form CloudFront origins use)."""
    return f"{bucket}.s3-website-{region}.amazonaws.com"


def public_read_policy(bucket: str) -> str:
    """The bucket policy of a public static site: anyone may read objects."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicReadGetObject",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def site_root(origin: str = "primary") -> Path:
    """The generated demo site (Hugo's ``public/``), shipped as package data.

    ``origin="secondary"`` gives the failover bucket's copy (``public-secondary/``).
    """
    folder = "public" if origin == "primary" else f"public-{origin}"
    return Path(str(resources.files("chaos_runner.sandbox") / "site" / folder))


def _website_origin(origin_id: str, bucket: str, region: str) -> dict[str, Any]:
    return {
        "Id": origin_id,
        "DomainName": website_domain(bucket, region),
        "ConnectionAttempts": 1,
        "ConnectionTimeout": 2,
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "http-only",
            "OriginReadTimeout": 5,
            "OriginKeepaliveTimeout": 5,
            "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
        },
    }


def _cache_behavior(target: str, path_pattern: str | None = None) -> dict[str, Any]:
    behavior: dict[str, Any] = {"PathPattern": path_pattern} if path_pattern else {}
    behavior.update(
        {
            "TargetOriginId": target,
            "ViewerProtocolPolicy": "allow-all",
            "AllowedMethods": {
                "Quantity": 2,
                "Items": ["GET", "HEAD"],
                "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
            },
            "ForwardedValues": {
                "QueryString": False,
                "Cookies": {"Forward": "none"},
                "Headers": {"Quantity": 0},
                "QueryStringCacheKeys": {"Quantity": 0},
            },
            "MinTTL": 0,
            "DefaultTTL": 300,
            "MaxTTL": 3600,
            "Compress": False,
        }
    )
    return behavior


def demo_distribution_config(
    caller_reference: str,
    bucket: str = BUCKET,
    region: str = REGION,
    failover_bucket: str = FAILOVER_BUCKET,
) -> dict[str, Any]:
    """The DistributionConfig of the demo distribution (legacy cache settings).

    TTLs are short enough for tests to see expiry, long enough that a warm cache survives a
    whole experiment; origin timeouts are the lowest AWS accepts so an outage answers fast.
    The main bucket's origin comes first (``Origins.Items[0]``).
    """
    codes = list(FAILOVER_STATUS_CODES)
    return {
        "CallerReference": caller_reference,
        "Comment": "chaostoolkit-cdn sandbox demo site",
        "Enabled": True,
        "DefaultRootObject": "index.html",
        "Origins": {
            "Quantity": 2,
            "Items": [
                _website_origin(ORIGIN_ID, bucket, region),
                _website_origin(FAILOVER_ORIGIN_ID, failover_bucket, region),
            ],
        },
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_GROUP_ID,
                    "FailoverCriteria": {"StatusCodes": {"Quantity": len(codes), "Items": codes}},
                    "Members": {
                        "Quantity": 2,
                        "Items": [{"OriginId": ORIGIN_ID}, {"OriginId": FAILOVER_ORIGIN_ID}],
                    },
                }
            ],
        },
        "DefaultCacheBehavior": _cache_behavior(ORIGIN_ID),
        "CacheBehaviors": {
            "Quantity": 1,
            "Items": [_cache_behavior(ORIGIN_GROUP_ID, FAILOVER_PATH_PATTERN)],
        },
        "CustomErrorResponses": {
            "Quantity": 1,
            "Items": [
                {
                    "ErrorCode": 404,
                    "ResponsePagePath": "/404.html",
                    "ResponseCode": "404",
                    "ErrorCachingMinTTL": 10,
                }
            ],
        },
        "PriceClass": "PriceClass_100",
    }


def viewer_certificate(certificate_arn: str, host: str = SITE_HOST) -> dict[str, Any]:
    """The DistributionConfig keys that serve ``host`` with an ACM certificate, SNI only.

    ``TLSv1.2_2021`` is the security policy CloudFront recommends (TLS 1.2 and later).
    """
    return {
        "Aliases": {"Quantity": 1, "Items": [host]},
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": False,
            "ACMCertificateArn": certificate_arn,
            "SSLSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021",
        },
    }


def alias_records(distribution_domain: str, host: str = SITE_HOST) -> dict[str, Any]:
    """The ChangeBatch that makes ``host`` an A and AAAA alias of the distribution."""
    target = {
        "HostedZoneId": CLOUDFRONT_HOSTED_ZONE_ID,
        "DNSName": distribution_domain,
        "EvaluateTargetHealth": False,
    }
    return {
        "Comment": "the site's host name is an alias of its CloudFront distribution",
        "Changes": [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {"Name": f"{host}.", "Type": kind, "AliasTarget": target},
            }
            for kind in ("A", "AAAA")
        ],
    }
