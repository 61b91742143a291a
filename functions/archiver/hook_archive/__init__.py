"""cfn-hook-archive: archive CloudFormation Hook invocation summaries to Parquet in S3."""
