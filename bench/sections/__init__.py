"""One module per section of the benchmark issue; each exposes run(plan, workdir) -> Section."""
