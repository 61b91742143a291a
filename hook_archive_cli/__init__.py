"""cfn-hook-archive's operator CLI: run from a checkout against the user's own AWS account."""
