#!/usr/bin/env bash
# Runs the fanout phase over a grid of cells (subscribers x messages x body
# size), each on a fresh broker; writes a table and a heatmap of delivery rate
# and names the first cell where anything failed.
#
#   benchmarks/sweep.sh [--subscribers 100,200,400,800] [--messages 1000,5000]
#                       [--body-sizes 64,1024,4096] [--quick] [--broker B] [--help]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec env PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 -m harness sweep "$@"
