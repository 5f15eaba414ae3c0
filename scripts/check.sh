#!/usr/bin/env bash
# Static checks CI runs beside the tests: the import-layer contract (docs/architecture.md),
# lint and types. Usage: bash scripts/check.sh [PYTHON]   (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-.venv/bin/python}"
bin="$(dirname "$py")"
"$bin/lint-imports"
"$bin/ruff" check src tests bench examples
"$bin/mypy"
