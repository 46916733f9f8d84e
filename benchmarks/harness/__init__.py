"""The benchmark harness: starts a fresh broker per phase, samples its RSS,
runs a load driver (benchmarks/DRIVER.md), and writes JSON, tables, plots
and an index page under benchmarks/results/<timestamp>/."""
