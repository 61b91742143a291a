"""Curator: moves rows from the raw archive (`hook_results_raw`, the archiver's Hive `dt=` Parquet objects)
into the curated Iceberg table `hook_results`, exactly once, and keeps that table compact and tidy.
A deployable of its own: it shares only the raw archive's layout and schema with the archiver."""
