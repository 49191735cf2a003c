VENV ?= .venv
PY := $(VENV)/bin/python
CAFFESIAM := $(VENV)/bin/caffesiam

.PHONY: setup setup-docker test lint caffe-tests demo doctor bench slurm-up gpu-build-check offline-bundle offline-gpu-check offline-rehearsal docker-engine docker-engine-stop docker-cpu docker-gpu docker-check docker-gpu-check clean fresh-check

setup:
	@bash scripts/setup.sh

# A host that trains only in Docker (train --docker IMAGE): caffesiam and caffe_pb2, no Caffe build.
setup-docker:
	@bash scripts/setup.sh --proto-only

test: setup lint
	@bash scripts/test_deps.sh
	$(PY) -m pytest -q tests

# ruff's lint and format checks (settings in pyproject.toml); `ruff format .` fixes the format.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Caffe's own gtest suite for what the speed patches change (minutes the first time).
caffe-tests: setup
	@bash scripts/caffe_tests.sh

demo: setup
	@bash scripts/demo.sh

doctor: setup
	$(CAFFESIAM) doctor

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# A real one-node Slurm on 127.0.0.1 (slurm-wlm and munge, installed when missing) until Ctrl-C.
slurm-up:
	@python3 scripts/local_slurm.py $(SLURM_DIR)

# The GPU build compiled and linked without a GPU (CUDA=13 for the CUDA 13 toolkit); slow.
gpu-build-check:
	@bash scripts/gpu_build_check.sh --cuda $(or $(CUDA),12)

# A GPU host without internet (docs/offline-gpu-host.md). Where the registries are: what the host
# lacks, into offline-bundle/ (ARGS: e.g. --python-version 3.12 --no-numpy).
offline-bundle:
	@bash scripts/offline_bundle.sh $(ARGS)

# On the offline host, one stage at a time: STAGE=configure, build, gtest, train or bench.
offline-gpu-check:
	@bash scripts/offline_gpu_check.sh $(STAGE) $(ARGS)

# The check's first stages in a clean Debian 12 root with no network and no GPU; STAGE=build compiles.
offline-rehearsal:
	@bash scripts/offline_rehearsal.sh $(or $(STAGE),configure) $(ARGS)

# A private dockerd (data in $${CAFFESIAM_DOCKER_ROOT:-/var/lib/caffesiam-docker}); needs root or sudo.
docker-engine:
	@bash scripts/docker_engine.sh start

docker-engine-stop:
	@bash scripts/docker_engine.sh stop

# The runtime images, built from this repository (any engine the docker client reaches).
docker-cpu:
	@bash scripts/docker_image.sh cpu

docker-gpu:
	@bash scripts/docker_image.sh gpu

# The CPU image built on the private engine and trained in for real (tests -m docker).
docker-check: setup
	@bash scripts/docker_check.sh cpu

# The GPU image built on the private engine (SASS for $${CAFFESIAM_CUDA_ARCH:-90} only) and what
# it holds checked (tests -m docker_gpu); no GPU here, so no kernel runs. Not in .ci/run: too slow.
docker-gpu-check: setup
	@bash scripts/docker_check.sh gpu

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The README's two commands on a clean Debian root (mmdebstrap + chroot; needs root or sudo):
# RELEASE=bookworm (Debian 12, the default) or trixie (Debian 13). FULL_DEMO=1: the whole first
# run (`make demo` with its own iterations, no `make test`); LOG=FILE keeps the stamped output,
# which bench/first_run_steps.py breaks down by step.
fresh-check:
	@bash scripts/fresh_check.sh --release $(or $(RELEASE),bookworm) $(if $(FULL_DEMO),--full-demo) $(if $(LOG),--log $(LOG))
