"""Pure logic: which keys are checkpoints, how old a commit is, what the fleet's summary says."""
