"""Config, the fields of a checkpoint this check reads, and the report."""
