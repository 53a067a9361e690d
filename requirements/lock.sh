#!/usr/bin/env bash
# Refreshes constraints.txt, the lock: every distribution that
# `pip install -c constraints.txt -e ".[dev]"` brings in, pinned, with the CPU
# build of torch. Run it from the project root in a venv that has the dev extra
# (pip-tools): bash requirements/lock.sh
# With --keep, the pins already in constraints.txt stay and only what is new is
# resolved (for adding a dependency without moving the others).
# pip-compile resolves with pip's own resolver, so it sees the same indexes and
# find-links as the install does; the CPU torch wheel must be reachable by pip
# (this machine's wheel folder, or PyTorch's CPU index via PIP_EXTRA_INDEX_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
upgrade="--upgrade"
if [[ "${1:-}" == "--keep" ]]; then upgrade=""; fi
python -m piptools compile --quiet $upgrade --strip-extras --allow-unsafe \
    --extra dev --no-emit-index-url --no-emit-find-links \
    --output-file constraints.txt pyproject.toml requirements/torch-cpu.in
