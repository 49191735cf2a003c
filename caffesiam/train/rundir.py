"""The files of a training run directory, by name: what `train` writes and sweep reads back."""

CAFFE_LOG = "caffe.log"  # Caffe's whole log; a run directory that holds one is taken
METRICS_CSV = "metrics.csv"  # train.metrics_csv's rows, rewritten after every test phase
LOSS_PNG = "loss.png"  # the loss curve
USAGE_JSON = "usage.json"  # the Caffe process's exit status, wall and CPU seconds, iterations
BLAS_THREADS_JSON = "blas_threads.json"  # the thread count chosen and what it was based on
RUN_SOLVER = "solver.prototxt"  # the solver Caffe runs: the given one with the run's overrides
RUN_DIR_SUFFIX = "_run"  # the default run directory is <snapshot_prefix>_run (then _run2, ...)
# All that train writes in a run directory: a folder holding anything else is not a run.
RUN_FILES = frozenset({CAFFE_LOG, METRICS_CSV, LOSS_PNG, USAGE_JSON, BLAS_THREADS_JSON, RUN_SOLVER})
