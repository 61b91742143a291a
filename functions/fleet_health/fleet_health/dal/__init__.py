"""The only boto3 code: listing and reading checkpoint objects in S3."""
