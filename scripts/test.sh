#!/usr/bin/env bash
# The test suite (CPU only, a few minutes on 2 cores). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
python -m pytest -q "$@"
