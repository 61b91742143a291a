"""Fleet health: a scheduled check, in the central account, of every archiver's checkpoint in the archive
bucket. A deployable of its own: it shares only the checkpoint's JSON format with the archiver."""
