"""`python -m bench [names] [--quick]` (or `make bench`): every benchmark table, each figure beside its peer
measured in the same run; prints one table with ratios, writes bench/results/<time>.json and a latency plot.

    python -m bench                    # every table
    python -m bench webhooks memory    # some
    python -m bench --quick            # shorter loads, smaller databases (a smoke run)

Tables: webhooks (phone tree vs Twilio's sample and bare WSGI), memory (RSS and imports of each process),
api (callback create), dialing (dispatcher vs the bare twilio client), claiming (claim vs raw SKIP LOCKED),
tick (a worker's tick at rest over many open callbacks), sla (SLA figures over many callbacks).
PostgreSQL must be reachable (BENCH_DATABASE_URL, default the local server); wrk must be installed
(scripts/install-system-packages.sh wrk). The older figures (day, throughput, reports) stay: `python -m bench.run`,
`python -m bench.reports`.
"""

from __future__ import annotations

import argparse
import importlib
import time

from bench.harness import Run

TABLES = ("webhooks", "memory", "api", "dialing", "claiming", "tick", "sla")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(TABLES))
    parser.add_argument("--quick", action="store_true", help="shorter loads and smaller databases")
    args = parser.parse_args()
    names = args.names or list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        parser.error(f"unknown table {unknown[0]!r}: choose from {', '.join(TABLES)}")
    run = Run(quick=args.quick)
    for name in names:
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        module.main(run)
        print(f"  ({name}: {time.monotonic() - started:.0f} s)\n", flush=True)
    print(run.table())
    path, plot = run.save(names)
    print(f"\nrun written to {path}" + (f", plot {plot}" if plot else ""))


if __name__ == "__main__":
    main()
