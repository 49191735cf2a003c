#!/usr/bin/env bash
# make docker-check: `train --docker` as a user runs it, on a real Docker engine.
#
# 1. This project's own engine (scripts/docker_engine.sh start: installed and started when
#    needed, reused when running); 2. the CPU image built from this checkout (make docker-cpu;
#    the engine's layer cache makes a rebuild quick); 3. the tests that train in it for real
#    (pytest -m docker: as a non-root user, against the host's own curve, Ctrl-C, kill -9, and
#    docker's own failures), then those of a host with no Caffe build, then sweeps whose points
#    train in the image (the local pool, and a local Slurm when there is one). An engine this started
#    is stopped again at the end, whatever happened; one that was running is left running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${VENV:-.venv}
root=${CAFFESIAM_DOCKER_ROOT:-/var/lib/caffesiam-docker}

started=0
if ! bash scripts/docker_engine.sh status >/dev/null; then started=1; fi
stop_engine() { if [ "$started" = 1 ]; then bash scripts/docker_engine.sh stop; fi; }
trap stop_engine EXIT
bash scripts/docker_engine.sh start
export DOCKER_HOST=unix://$root/docker.sock

bash scripts/docker_image.sh cpu
CAFFESIAM_DOCKER_CHECK=1 "$venv/bin/python" -m pytest -q -rP -m docker \
  tests/test_docker_engine.py tests/test_docker_host.py tests/test_docker_sweep.py
