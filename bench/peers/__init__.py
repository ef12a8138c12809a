"""The peers the benchmarks put our figures beside: the same machine, the same run, the same load generator."""
