#!/usr/bin/env bash
# The whole CPU test suite on a fresh machine: set up, then `make test`.
# Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make test
