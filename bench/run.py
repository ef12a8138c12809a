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
    print(f"\n# Simulated day: {requests} requests, Poisson over 08:00-20:00, 10 agents, EDF vs FCFS")
    print(f"{'order':>6} {'kept':>6} {'missed':>7} {'unreach':>8} {'warned':>7} {'lead p50 min':>13} {'lead min':>9}"
          "  kept general/billing/urgent")
    for row in day.main(requests):
        q = row["kept_by_queue"]
        lead = f"{row['lead_p50_min']:.0f}" if row["lead_p50_min"] is not None else "-"
        low = f"{row['lead_min_min']:.0f}" if row["lead_min_min"] is not None else "-"
        print(f"{row['order']:>6} {row['kept']:>6.1%} {row['missed']:>7} {row['unreachable']:>8} "
              f"{row['warned_share']:>7.0%} {lead:>13} {low:>9}  "
              f"{q['general']:.1%}/{q['billing']:.1%}/{q['urgent']:.1%}")


if __name__ == "__main__":
    main()
