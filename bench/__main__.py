"""`python -m bench` (or `make bench`): every benchmark table, one after the other.

Options: BENCH_DISPATCH_CALLBACKS (default 3000), BENCH_DAY_REQUESTS (5000), BENCH_REPORT_ROWS (1000000).
PostgreSQL must be reachable (BENCH_DATABASE_URL, default the local server). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import sys

from bench import reports, run


def main() -> None:
    callbacks = os.environ.get("BENCH_DISPATCH_CALLBACKS", "3000")
    requests = os.environ.get("BENCH_DAY_REQUESTS", "5000")
    rows = os.environ.get("BENCH_REPORT_ROWS", "1000000")
    sys.argv = ["bench.run", callbacks, requests]
    run.main()
    print(f"\n# Supervisor reports over {int(rows):,} callbacks on PostgreSQL")
    sys.argv = ["bench.reports", "--rows", rows]
    reports.main()


if __name__ == "__main__":
    main()
