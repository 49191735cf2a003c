"""sweep: many trainings from one sweep file, on this machine or a Slurm array; status, resume, report."""

import os
import shutil
import time
from pathlib import Path

import click

from caffesiam.commands.option_types import OutputDir, count
from caffesiam.commands.options import option_group
from caffesiam.commands.progress import progress_bar
from caffesiam.data.probe import is_database
from caffesiam.errors import SweepError

# gen-net and gen-solver options the sweep sets itself, per point
_MANAGED = {
    "spec",
    "output",
    "deploy",
    "deploy_batch",
    "train_source",
    "test_source",
    "net",
    "snapshot_prefix",
    "cpu",
}
_ENGINE_FIELDS = ("engine", "jobs", "partition", "time", "cpus_per_task", "gpus", "docker")


class _RunByDefault(click.Group):
    """`caffesiam sweep FILE ...` means `caffesiam sweep run FILE ...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RunByDefault)
def sweep():
    """Many trainings from one sweep file: run them here or on Slurm, follow them, compare them.

    \b
    caffesiam sweep SWEEP.yaml [--engine local|slurm]   make a run directory per point, run them all
    caffesiam sweep status DIR                          where each point stands (files, squeue, sacct)
    caffesiam sweep resume DIR                          run the points that did not finish
    caffesiam sweep report DIR                          results.csv, curves.png, accuracy.png
    """


def option_keys():
    """Override keys: the options of gen-net and gen-solver, less the ones the sweep sets."""
    from caffesiam.commands.gen_net import gen_net
    from caffesiam.commands.gen_solver import gen_solver

    def names(command):
        return frozenset(p.name for p in command.params if isinstance(p, click.Option)) - _MANAGED

    return names(gen_net), names(gen_solver)


# Options of run and resume (resume's default: what the sweep was started with).
engine_options = option_group(
    click.option(
        "--engine",
        type=click.Choice(["local", "slurm"]),
        help="local: a pool on this machine; slurm: one sbatch --array job [default: local].",
    ),
    click.option(
        "--jobs",
        type=count(),
        help="Points at once: the local pool's size [default: 1], or Slurm's array throttle "
        "(--array=...%N) [default: none]. Local BLAS threads: cores / jobs.",
    ),
    click.option("--partition", help="Slurm partition."),
    click.option("--time", "time_limit", help="Slurm time limit per task (sbatch --time)."),
    click.option(
        "--cpus-per-task",
        type=count(),
        help="Slurm CPUs per task, also the task's BLAS threads [default: 1].",
    ),
    click.option(
        "--gpus",
        type=count(min=0),
        help="GPUs per task: sbatch --gres=gpu:N and train --gpu [default: 0].",
    ),
    click.option("--docker", help="Run each point's Caffe in this Docker image (train --docker)."),
)


def _engine(recorded: dict, **given) -> dict:
    merged = {
        **{k: None for k in _ENGINE_FIELDS},
        **recorded,
        **{k: v for k, v in given.items() if v is not None},
    }
    merged["engine"] = merged["engine"] or "local"
    merged["cpus_per_task"] = merged["cpus_per_task"] or 1
    merged["gpus"] = merged["gpus"] or 0
    if merged["engine"] == "local":
        merged["jobs"] = merged["jobs"] or 1
        if merged["gpus"] or merged["partition"] or merged["time"]:
            raise click.BadParameter(
                "--partition, --time and --gpus are Slurm's; add --engine slurm",
                param_hint="--engine",
            )
    return merged


def _train_options(engine: dict):
    from caffesiam.sweep.engines import blas_threads

    if engine["gpus"]:
        options = ["--gpu", ",".join(map(str, range(engine["gpus"])))]
    elif engine["engine"] == "slurm":
        options = ["--blas-threads", str(engine["cpus_per_task"])]
    else:
        options = ["--blas-threads", str(blas_threads(os.cpu_count() or 1, engine["jobs"]))]
    return options + (["--docker", engine["docker"]] if engine["docker"] else [])


def _require_engine(engine: dict):
    """Bad input, not a tool failure: the user asked for an engine this machine cannot drive."""
    from caffesiam.sweep.engines import SLURM_PACKAGE

    if engine["engine"] == "slurm" and shutil.which("sbatch") is None:
        raise SweepError(
            f"--engine slurm needs sbatch, which is not on PATH "
            f"(Debian: apt-get install {SLURM_PACKAGE})"
        )
    if engine["engine"] == "local" and engine["docker"] and shutil.which("docker") is None:
        raise SweepError("--docker was given but no docker client is installed")


def _check_leveldb(sweep, engine: dict):
    """A LevelDB admits one process: concurrent trainings (and evaluations) on one would fail."""
    concurrent = engine["jobs"] != 1
    for path in sweep.database_paths:
        if concurrent and is_database(Path(path), "leveldb"):
            raise SweepError(
                f"{path} is a LevelDB, which only one training can open at a time; build "
                f"the databases with --backend lmdb, or run with --jobs 1"
            )


@sweep.command("run")
@click.argument("sweep_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=OutputDir(),
    help="Sweep directory [default: the sweep file's name without .yaml, next to it].",
)
@engine_options
@click.option("--wait", is_flag=True, help="Slurm: wait for the array to finish, showing progress.")
@click.option("--dry-run", is_flag=True, help="Print the points and their commands; make nothing.")
def run(
    sweep_file, out, engine, jobs, partition, time_limit, cpus_per_task, gpus, docker, wait, dry_run
):
    """Expand SWEEP_FILE into a run directory per point and run every point (train, then evaluate).

    Each run directory holds its train net, deploy net, solver, point.json and command.sh, the exact
    commands. Nothing is made when any point is bad, and no existing run directory is overwritten.
    """
    from caffesiam.files import read_file
    from caffesiam.spec.yamlload import load_yaml
    from caffesiam.sweep import rundirs
    from caffesiam.sweep.expand import expand

    settings = _engine(
        {},
        engine=engine,
        jobs=jobs,
        partition=partition,
        time=time_limit,
        cpus_per_task=cpus_per_task,
        gpus=gpus,
        docker=docker,
    )
    net_keys, solver_keys = option_keys()
    source = sweep_file.resolve()
    doc = load_yaml(read_file(sweep_file, SweepError, "sweep file"), str(sweep_file))
    plan = expand(
        doc, str(sweep_file), str(source.parent), net_keys, solver_keys, _train_options(settings)
    )
    out = (out or source.with_suffix("")).absolute()
    if dry_run:
        _print_plan(plan, out)
        return
    rundirs.check_out_dir(out, plan)
    _require_engine(settings)
    _check_leveldb(plan, settings)
    with progress_bar(len(plan.points), "making run directories") as advance:
        rundirs.create(plan, out, source, settings, on_point=lambda p: advance and advance(1))
    click.echo(f"sweep directory: {out} ({len(plan.points)} points)")
    _launch(out, settings, range(len(plan.points)), wait)


@sweep.command("resume")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@engine_options
@click.option("--wait", is_flag=True, help="Slurm: wait for the array to finish, showing progress.")
def resume(sweep_dir, engine, jobs, partition, time_limit, cpus_per_task, gpus, docker, wait):
    """Run the points of SWEEP_DIR that have not finished (failed, cancelled, never started).

    Finished points are left alone; queued and running ones too. A training that stopped with a
    snapshot continues from it. Engine options default to the ones the sweep was started with.
    """
    from caffesiam.sweep import rundirs
    from caffesiam.sweep.expand import train_command
    from caffesiam.sweep.status import DONE, sweep_status

    sweep_dir = sweep_dir.absolute()
    state = rundirs.read_state(sweep_dir)
    settings = _engine(
        state["engine"],
        engine=engine,
        jobs=jobs,
        partition=partition,
        time=time_limit,
        cpus_per_task=cpus_per_task,
        gpus=gpus,
        docker=docker,
    )
    _require_engine(settings)
    statuses = sweep_status(sweep_dir)
    busy = [s for s in statuses if s.active]
    todo = [s for s in statuses if s.state != DONE and not s.active]
    if busy:
        click.echo(
            f"left alone, still {', '.join(sorted({s.state for s in busy}))}: "
            f"{', '.join(str(s.point.index) for s in busy)}",
            err=True,
        )
    if not todo:
        click.echo(
            "nothing to resume: every point is done" + (" or still queued/running" if busy else "")
        )
        return
    options = _train_options(settings)
    for s in todo:  # the engine may differ from last time: the commands say what will run
        s.point.commands["train"] = train_command(options)
        rundirs.write_point(
            s.point, sweep_dir / s.point.name, sweep_dir / s.point.name, state["name"]
        )
    rundirs.write_state(sweep_dir, {**state, "engine": settings})
    click.echo(f"resuming {len(todo)} point(s): {', '.join(str(s.point.index) for s in todo)}")
    _launch(sweep_dir, settings, [s.point.index for s in todo], wait)


def _launch(sweep_dir: Path, settings: dict, indices, wait: bool):
    if settings["engine"] == "slurm":
        _submit(sweep_dir, settings, list(indices), wait)
    else:
        _run_local(sweep_dir, settings, list(indices))


def _run_local(sweep_dir, settings, indices):
    from caffesiam.sweep.engines import run_local
    from caffesiam.sweep.rundirs import points_of

    names = {p.index: p.name for p in points_of(sweep_dir)}
    failed = []
    threads = _train_options(settings)
    click.echo(
        f"running {len(indices)} point(s), {settings['jobs']} at a time ({' '.join(threads)})",
        err=True,
    )
    with progress_bar(len(indices), "points") as advance:

        def on_done(index, status):
            if advance:
                advance(1)
            if status != 0:
                failed.append(index)
                click.echo(
                    f"\npoint {index} ({names[index]}) failed with status {status}; "
                    f"see {sweep_dir / names[index] / 'task.log'}",
                    err=True,
                )

        try:
            run_local(sweep_dir, indices, settings["jobs"], on_done)
        except KeyboardInterrupt:
            click.echo(
                f"\ninterrupted; continue with: caffesiam sweep resume {sweep_dir}", err=True
            )
            raise SystemExit(130)
    _summary(sweep_dir)
    if failed:
        raise SystemExit(1)


def _submit(sweep_dir, settings, indices, wait):
    from caffesiam.files import write_text_atomic
    from caffesiam.sweep import engines, rundirs

    state = rundirs.read_state(sweep_dir)
    script = sweep_dir / "sweep.sbatch"
    write_text_atomic(script, engines.batch_script(sweep_dir))
    options = engines.SlurmOptions(
        settings["partition"],
        settings["time"],
        settings["cpus_per_task"],
        settings["gpus"],
        settings["jobs"],
    )
    argv = engines.sbatch_argv(
        shutil.which("sbatch"),
        script,
        indices,
        f"caffesiam-{state['name']}",
        sweep_dir / rundirs.LOGS,
        options,
    )
    job_id = engines.submit(argv)
    state["slurm_jobs"].append(
        {"id": job_id, "indices": indices, "sbatch": argv, "submitted": time.time()}
    )
    rundirs.write_state(sweep_dir, state)
    click.echo(
        f"submitted Slurm array job {job_id} ({len(indices)} task(s)); "
        f"follow it with: caffesiam sweep status {sweep_dir}"
    )
    if wait:
        _wait(sweep_dir, len(indices))


def _wait(sweep_dir, total, poll_seconds=5.0):
    from caffesiam.sweep.status import sweep_status

    shown = 0
    with progress_bar(total, "waiting for Slurm") as advance:
        while True:
            statuses = sweep_status(sweep_dir)
            finished = total - sum(s.active for s in statuses)
            if advance and finished > shown:
                advance(finished - shown)
                shown = finished
            if not any(s.active for s in statuses):
                break
            time.sleep(poll_seconds)
    _summary(sweep_dir)
    if any(s.state != "done" for s in statuses):
        raise SystemExit(1)


@sweep.command("status")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def status(sweep_dir):
    """Where each point of SWEEP_DIR stands: done (with its accuracy), pending, running, failed,
    cancelled, not started; Slurm's word from squeue, or sacct once squeue has forgotten the job."""
    _summary(sweep_dir.absolute(), every_point=True)


def _summary(sweep_dir, every_point=False):
    from caffesiam.sweep.status import counts, sweep_status

    statuses = sweep_status(sweep_dir)
    if every_point:
        width = max(len(s.point.name) for s in statuses)
        for s in statuses:
            progress = f"iteration {s.iteration}/{s.point.max_iter}"
            result = f"accuracy {s.accuracy:.2%}" if s.accuracy is not None else s.detail
            click.echo(f"{s.point.name:<{width}}  {s.state:<11}  {progress:<22}  {result}")
    tally = counts(statuses)
    click.echo(", ".join(f"{n} {state}" for state, n in tally.items()) + f" (of {len(statuses)})")
    if any(s.state in ("failed", "cancelled", "not started") for s in statuses):
        click.echo(f"continue with: caffesiam sweep resume {sweep_dir}")


@sweep.command("report")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=OutputDir(),
    help="Directory for results.csv, curves.png and accuracy.png [default: SWEEP_DIR].",
)
def report(sweep_dir, out):
    """results.csv (one row per point: its overrides, held-out accuracy, AUC, EER, training time
    and iterations/s), curves.png (every run's test loss) and accuracy.png."""
    from caffesiam.sweep.report import write_report

    for path in write_report(sweep_dir, out or sweep_dir):
        click.echo(f"wrote {path}")


@sweep.command("run-point", hidden=True)
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("index", type=count(min=0))
def run_point(sweep_dir, index):
    """What each engine runs for one point: train (or continue it), then evaluate."""
    from caffesiam.sweep.rundirs import run_point as run

    raise SystemExit(run(sweep_dir, index))


def _print_plan(plan, out):
    import shlex

    click.echo(f"sweep {plan.name}: {len(plan.points)} points into {out}")
    for p in plan.points:
        click.echo(f"\n{p.name}:")
        for argv in p.commands.values():
            click.echo("  " + shlex.join(["caffesiam", *argv]))
