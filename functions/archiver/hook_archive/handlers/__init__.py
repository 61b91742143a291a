"""Lambda entry points: thin doorways into the logic."""
