#!/usr/bin/env bash
# Runs the benchmark phases, each against a fresh broker, and writes JSON,
# tables, plots and an index page to benchmarks/results/<timestamp>/.
#
#   benchmarks/run.sh [--phases fanout,slow,...] [--quick] [--broker B | --compare B1,B2]
#                     [--driver native|python] [more: --help, benchmarks/README.md]
#
# PHASES=fanout,slow benchmarks/run.sh does the same as --phases.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's python3 is the one with python3-matplotlib; a pyenv python3 first
# on PATH would not find it.
exec env PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 -m harness run "$@"
