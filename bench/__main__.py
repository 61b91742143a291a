"""`python -m bench [--quick] [--only NAME ...]`: run the benchmark sections, print the Markdown report and
write it to bench/RESULTS.md. A run with --only prints its sections but writes a file only when --output
is given, so a partial run never replaces the full table."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.plan import BENCH_DIR, FULL, QUICK
from bench.report import Section, render

# name -> (module, title); the order of the report.
SECTIONS: dict[str, tuple[str, str]] = {
    "backfill": ("bench.sections.backfill", "1. backfill throughput and overhead"),
    "steady": ("bench.sections.steady", "2. steady state is O(new)"),
    "memory": ("bench.sections.memory", "3. memory"),
    "coldstart": ("bench.sections.coldstart", "4. cold start and artefact size"),
    "query": ("bench.sections.query", "5. query efficiency of the archive"),
    "cost": ("bench.sections.cost", "6. cost per month"),
    "curated": ("bench.sections.curated", "7. curated Iceberg table against the raw archive"),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer repetitions (~5 min)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the backfill")
    parser.add_argument("--output", type=Path, help="where to write the report (default: bench/RESULTS.md)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = QUICK if args.quick else FULL
    if args.no_profile:
        from dataclasses import replace  # noqa: PLC0415

        plan = replace(plan, profile=False)
    names = args.only or list(SECTIONS)
    started = time.perf_counter()
    sections: list[Section] = []
    shared: dict[str, dict[str, object]] = {}  # earlier sections' raw figures (the cost model reuses them)
    failed = False
    with tempfile.TemporaryDirectory(prefix="cfn-hook-archive-bench-") as workdir:
        for name, (module_name, title) in SECTIONS.items():
            if name not in names:
                continue
            print(f"== {title} ({plan.mode})", flush=True)
            section_started = time.perf_counter()
            section_dir = Path(workdir) / name
            section_dir.mkdir()
            try:
                module = importlib.import_module(module_name)
                section: Section = module.run(plan, section_dir, shared)
            except Exception:  # one broken section must not hide the others' figures
                failed = True
                trace = traceback.format_exc()
                print(trace, file=sys.stderr, flush=True)
                section = Section(title.split(".")[0], title.split(". ", 1)[1] + " (FAILED)")
                section.add(f"The section failed:\n\n```\n{trace[-2000:]}\n```")
            section.seconds = time.perf_counter() - section_started
            print(f"   done in {section.seconds:.0f} s", flush=True)
            sections.append(section)
            shared[name] = section.data
    report = render(sections, mode=plan.mode, total_seconds=time.perf_counter() - started)
    print()
    print(report)
    output = args.output or (BENCH_DIR / "RESULTS.md" if args.only is None else None)
    if output is not None:
        output.write_text(report)
        print(f"Written to {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
