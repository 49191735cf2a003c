"""The engine's settings: where and how the points run. Merged from the options given, what the
sweep was started with and the defaults, then checked against this machine (pure, over the
facts `this_machine` gathers)."""

import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from caffesiam.data.probe import is_database
from caffesiam.errors import BadInput, SweepError
from caffesiam.limits import BLAS_THREADS_MAX, INT32_MAX
from caffesiam.net.options import Option
from caffesiam.sweep.engines import SLURM_PACKAGE
from caffesiam.train.checks import check_image_name

ENGINES = ("local", "slurm")
ENGINE_OPTIONS = (  # EngineSettings' fields as `sweep run` and `sweep resume` take them
    Option(
        "engine",
        str,
        "local: a pool on this machine; slurm: one sbatch --array job [default: local].",
        choices=ENGINES,
    ),
    Option(
        "jobs",
        int,
        "Points at once: the local pool's size [default: 1], or Slurm's array throttle "
        "(--array=...%N) [default: none]. Local BLAS threads: cores / jobs.",
        low=1,
        high=INT32_MAX,
    ),
    Option("partition", str, "Slurm partition."),
    Option("time", str, "Slurm time limit per task (sbatch --time)."),
    Option(
        "cpus_per_task",
        int,
        "Slurm CPUs per task, also the task's BLAS threads [default: 1].",
        low=1,
        high=INT32_MAX,
    ),
    Option(
        "gpus",
        int,
        "GPUs per task: sbatch --gres=gpu:N and train --gpu [default: 0].",
        low=0,
        high=INT32_MAX,
    ),
    Option("docker", str, "Run each point's Caffe in this Docker image (train --docker)."),
)


@dataclass(frozen=True)
class EngineSettings:
    engine: str = "local"
    jobs: int | None = None  # local: the pool's size; slurm: the array's throttle (none: no limit)
    partition: str | None = None
    time: str | None = None  # Slurm's time limit per task
    cpus_per_task: int = 1
    gpus: int = 0
    docker: str | None = None  # the image each point's Caffe runs in

    def record(self) -> dict:
        """As sweep.json keeps it."""
        return asdict(self)


@dataclass(frozen=True)
class Machine:
    """What this machine offers the engines."""

    cores: int
    sbatch: str | None = None
    docker: str | None = None


def this_machine() -> Machine:
    return Machine(os.cpu_count() or 1, shutil.which("sbatch"), shutil.which("docker"))


def merge_settings(recorded: dict, **given) -> EngineSettings:
    """The settings a run uses: the options given (None: not given) over the recorded ones (what
    the sweep was started with) over the defaults. SweepError for Slurm's options on the local
    engine, or a record that is not one of ours."""
    names = {f.name for f in fields(EngineSettings)}
    if not isinstance(recorded, dict) or not set(recorded) <= names:
        raise SweepError(f"the sweep's recorded engine settings are not caffesiam's: {recorded!r}")
    chosen = {k: v for k, v in recorded.items() if v is not None}
    chosen.update({k: v for k, v in given.items() if v is not None})
    if chosen.get("engine", "local") not in ENGINES:
        raise SweepError(f"engine must be one of {', '.join(ENGINES)}, got {chosen['engine']!r}")
    settings = EngineSettings(**chosen)
    if settings.engine == "local":
        if settings.gpus or settings.partition or settings.time:
            raise SweepError("--partition, --time and --gpus are Slurm's; add --engine slurm")
        settings = EngineSettings(**{**asdict(settings), "jobs": settings.jobs or 1})
    return settings


def blas_threads(settings: EngineSettings, cores: int) -> int | None:
    """CPU threads (OpenMP and OpenBLAS) per point: none for a GPU run; on Slurm the task's CPUs;
    on the local pool this machine's cores shared among the points that run at once; never more
    than train's --blas-threads takes."""
    if settings.gpus:
        return None
    if settings.engine == "slurm":
        return min(settings.cpus_per_task, BLAS_THREADS_MAX)
    return min(max(1, cores // max(1, settings.jobs or 1)), BLAS_THREADS_MAX)


def train_options(settings: EngineSettings, cores: int) -> list[str]:
    """What the engine adds to each point's train command: its GPUs or its CPU threads, and the
    Docker image."""
    threads = blas_threads(settings, cores)
    if threads is None:
        options = ["--gpu", ",".join(map(str, range(settings.gpus)))]
    else:
        options = ["--blas-threads", str(threads)]
    return options + (["--docker", settings.docker] if settings.docker else [])


def check_engine(settings: EngineSettings, machine: Machine):
    """SweepError (bad input, not a tool failure) for an image docker would not take as one (an
    option, say), or an engine this machine cannot drive."""
    if settings.docker is not None:
        try:
            check_image_name(settings.docker)
        except BadInput as e:
            raise SweepError(f"--docker: {e}") from e
    if settings.engine == "slurm" and machine.sbatch is None:
        raise SweepError(
            f"--engine slurm needs sbatch, which is not on PATH "
            f"(Debian: apt-get install {SLURM_PACKAGE})"
        )
    if settings.engine == "local" and settings.docker and machine.docker is None:
        raise SweepError("--docker was given but no docker client is installed")


def check_shared_databases(databases: Iterable[str], settings: EngineSettings):
    """Concurrent trainings (and evaluations) must be able to open their databases at once. A
    LevelDB admits one process. An LMDB admits one reader per process id, and the containers of
    --docker number their processes alike (each has its own PID namespace): the second point in
    a container to open an LMDB fails (mdb_txn_begin: Resource temporarily unavailable)."""
    if settings.jobs == 1:
        return
    for path in databases:
        if is_database(path, "leveldb"):
            raise SweepError(
                f"{path} is a LevelDB, which only one training can open at a time; build "
                f"the databases with --backend lmdb, or run with --jobs 1"
            )
        if settings.docker and is_database(path, "lmdb"):
            raise SweepError(
                f"{path} is an LMDB, which trainings in containers (--docker) cannot read at "
                f"the same time; run with --jobs 1"
            )
