"""The demo site's AWS resources, as the sandbox creates them on start.

They mirror what the users of this tool run (see USERS.md): a bucket named after the host,
website hosting with ``index.html``/``404.html``, a public-read bucket policy, and a
distribution whose origin is the bucket's S3 *website* endpoint as a custom origin.
"""

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "BUCKET",
    "REGION",
    "demo_distribution_config",
    "public_read_policy",
    "site_root",
    "website_domain",
]

BUCKET = "www.chaos-demo.test"
REGION = "us-east-1"
ORIGIN_ID = "s3-website-origin"


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


def site_root() -> Path:
    """The generated demo site (Hugo's ``public/``), shipped as package data."""
    return Path(str(resources.files("chaos_runner.sandbox") / "site" / "public"))


def demo_distribution_config(
    caller_reference: str, bucket: str = BUCKET, region: str = REGION
) -> dict[str, Any]:
    """The DistributionConfig of the demo distribution (legacy cache settings).

    TTLs are short enough for tests to see expiry, long enough that a warm cache survives a
    whole experiment; origin timeouts are the lowest AWS accepts so an outage answers fast.
    """
    return {
        "CallerReference": caller_reference,
        "Comment": "chaostoolkit-cdn sandbox demo site",
        "Enabled": True,
        "DefaultRootObject": "index.html",
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_ID,
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
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID,
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
