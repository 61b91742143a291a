"""Pure logic: what a run ingests, which days it compacts, which snapshots and files it may remove; and the
run itself, against the RawArchive and CuratedTable ports."""
