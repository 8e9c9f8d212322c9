"""The local site stack: moto as the AWS control plane, an edge that serves the distribution
as CloudFront would, and an S3 website endpoint emulator in front of moto's buckets."""
