"""Config, the raw archive's schema and keys, the curated table's schema, plans and the run report."""
