"""train: the real `caffe train` with a progress bar, metrics.csv, loss.png and a safe Ctrl-C."""

import re
import shlex
import shutil
import sys
from pathlib import Path

import click

from caffesiam.caffe import locate, runner
from caffesiam.commands.params import OutputDir, OutputFile, count
from caffesiam.files import staged
from caffesiam.train.blas_threads import threads_for_run, write_choice
from caffesiam.train.gather import plan_training
from caffesiam.train.launch import DockerLaunch, HostLaunch
from caffesiam.train.log import TestPoint, TrainPoint
from caffesiam.train.plan import TrainRequest
from caffesiam.train.run import caffe_env, run_training, write_run_solver

_file = click.Path(dir_okay=False, path_type=Path)
BLAS_THREADS_MAX = 1024  # OpenBLAS's own ceiling (MAX_CPU_NUMBER) is lower still


_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")


def _image_option(value):
    """An image reference as docker takes it; never anything docker would read as an option."""
    if value is None or _IMAGE.fullmatch(value):
        return value
    raise click.BadParameter(
        f"{value!r} is not an image name (e.g. caffesiam:cpu, registry.example.org/caffesiam:gpu)"
    )


def _gpu_option(value):
    if value is None or value == "all" or all(part.isdigit() for part in value.split(",")):
        return value
    raise click.BadParameter("use an id (0), a list (0,1) or 'all'")


@click.command()
@click.argument("solver", type=_file)
@click.option("--cpu", "force_cpu", is_flag=True, help="Train on the CPU whatever the solver says.")
@click.option("--gpu", callback=lambda c, p, v: _gpu_option(v), help="GPU id, list (0,1) or 'all'.")
@click.option("--weights", type=_file, help="Fine-tune from these weights.")
@click.option("--resume", type=_file, help="Continue from this .solverstate.")
@click.option("--max-iter", type=count(), help="Override the solver's max_iter.")
@click.option(
    "--out",
    "out",
    type=OutputDir(),
    help="Run directory (default: <snapshot_prefix>_run next to the snapshots).",
)
@click.option(
    "--docker",
    "image",
    callback=lambda c, p, v: _image_option(v),
    help="Run Caffe in this Docker image (no Caffe needed on this host).",
)
@click.option("--log", "log_copy", type=OutputFile(), help="Also copy the full log here.")
@click.option(
    "--blas-threads",
    default="auto",
    show_default=True,
    help="CPU threads (Caffe's OpenMP and OpenBLAS together): 'auto' measures 1 vs all cores once per run.",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Show Caffe's raw log instead of a progress bar."
)
def train(
    solver, force_cpu, gpu, weights, resume, max_iter, out, image, log_copy, blas_threads, verbose
):
    """Train with the real `caffe train`: progress bar, metrics.csv, loss.png, safe Ctrl-C.

    The first Ctrl-C makes Caffe snapshot and stop, and prints the --resume command;
    a second one stops at once. Existing snapshots are never overwritten.
    """
    if force_cpu and gpu:
        raise click.BadParameter("--cpu and --gpu exclude each other", param_hint="--gpu")
    if blas_threads != "auto" and not (
        blas_threads.isdigit() and 1 <= int(blas_threads) <= BLAS_THREADS_MAX
    ):
        raise click.BadParameter(
            f"'auto' or a number from 1 to {BLAS_THREADS_MAX}", param_hint="--blas-threads"
        )
    docker = runner.require("docker", "docker.io") if image else None
    request = TrainRequest(
        solver,
        gpu=gpu,
        force_cpu=force_cpu,
        weights=weights,
        resume=resume,
        max_iter=max_iter,
        out=out,
    )
    # In an image, nothing of a host Caffe build is used (the host may have none, or a CPU one).
    launch = DockerLaunch(docker, image) if image else HostLaunch()
    plan = plan_training(
        request, cpu_only_build=locate.is_cpu_only_build() if not image else False, launch=launch
    )
    write_run_solver(plan)
    threads, why, timings = threads_for_run(plan, blas_threads, launch)
    write_choice(plan.run_dir / "blas_threads.json", threads, why, timings)
    env = caffe_env(threads)
    argv = launch.wrap(
        plan,
        runner.caffe_train_argv(launch.caffe, plan.run_solver, plan.gpu, plan.weights, plan.resume),
        env,
    )
    click.echo(f"run directory: {plan.run_dir}")
    if threads is not None:
        click.echo(f"CPU threads: {threads} ({why})")
    result = _run_with_progress(plan, launch, argv, env, verbose)
    if log_copy:
        with staged() as stage:
            shutil.copyfile(result.log_path, stage(log_copy))
    _report(plan, launch, result)


def _run_with_progress(plan, launch, argv, env, verbose):
    interrupts = runner.Interrupts(
        on_first=lambda: click.echo(
            "\ninterrupt: asking Caffe to snapshot and stop (Ctrl-C again to kill it)", err=True
        )
    )
    if verbose:
        return run_training(
            plan,
            argv,
            env,
            on_line=lambda line: click.echo(line, nl=False, err=True),
            interrupts=interrupts,
            launch_failure=launch.failure,
        )
    if not sys.stderr.isatty():  # no bar in a log file or pipe
        return run_training(plan, argv, env, interrupts=interrupts, launch_failure=launch.failure)
    state = {"loss": None, "test": None, "done": plan.start_iter}
    with click.progressbar(
        length=plan.iterations,
        label="training",
        file=click.get_text_stream("stderr"),
        show_pos=True,
        item_show_func=lambda _: _status(state),
    ) as bar:

        def on_event(event):
            if isinstance(event, TrainPoint):
                bar.update(max(event.iteration - state["done"], 0), event)
                state["done"] = max(state["done"], event.iteration)
                state["loss"] = event.loss
            elif isinstance(event, TestPoint) and "loss" in event.outputs:
                state["test"] = event.outputs["loss"]

        result = run_training(
            plan, argv, env, on_event=on_event, interrupts=interrupts, launch_failure=launch.failure
        )
        if not result.interrupted:
            bar.update(max(plan.iterations - bar.pos, 0))
    return result


def _status(state):
    parts = []
    if state["loss"] is not None:
        parts.append(f"loss {state['loss']:.4f}")
    if state["test"] is not None:
        parts.append(f"test {state['test']:.4f}")
    return " ".join(parts)


def _report(plan, launch, result):
    m = result.metrics
    click.echo(f"log: {result.log_path}\nmetrics: {result.csv_path}\ncurve: {result.plot_path}")
    click.echo(
        f"time: {result.usage.wall_seconds:.1f} s wall, {result.usage.cpu_seconds:.1f} s CPU "
        f"(user+sys of {launch.timed_process})"
    )
    if m.snapshots:
        click.echo(f"last snapshot: {m.snapshots[-1]}")
    if result.interrupted:
        state = m.last_solverstate
        if state:
            click.echo(
                f"stopped with a snapshot at {state}; continue with:\n  caffesiam train "
                f"{shlex.quote(str(plan.run_solver))} --resume {shlex.quote(str(plan.cwd / state))}"
            )
        else:
            click.echo("stopped before any snapshot was written", err=True)
        raise SystemExit(130)
