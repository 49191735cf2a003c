#!/usr/bin/env bash
# make demo: the main job after setup.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/caffesiam doctor
