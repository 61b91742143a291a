"""Pure archiving logic: no boto3, no environment reads."""
