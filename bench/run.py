"""All benchmarks, one command: `.venv/bin/python -m bench.run` (PostgreSQL at BENCH_DATABASE_URL or localhost).

Prints figures only; nothing here asserts timings.
"""

from __future__ import annotations

import sys

from bench import day, throughput


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    print(f"# Claim + dial throughput, PostgreSQL, real twilio client -> local stand-in, {count} due callbacks")
    print(f"{'workers':>7} {'dialed/s':>9} {'lateness p50 s':>15} {'p99 s':>7}")
    for row in throughput.main(count):
        print(f"{row['workers']:>7} {row['per_second']:>9.0f} {row['p50']:>15.2f} {row['p99']:>7.2f}")
    print(f"\n# Simulated day: {requests} requests (and 3000), Poisson over 08:00-20:00, 10 agents, same arrivals and "
          "outcomes: fixed SLA vs honest quote vs the board's advised agents at 12:00")
    lines = day.table([requests, 3000])  # prints each row as its run ends
    print("# in order")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
