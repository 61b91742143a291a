"""The only AWS code: the raw archive in S3 (boto3) and the curated table in Glue and S3 (pyiceberg)."""
