"""train: the real `caffe train` with a progress bar, metrics.csv, loss.png and a safe Ctrl-C."""

import shutil
import sys
from functools import partial
from pathlib import Path

import click

from caffesiam.caffe import runner
from caffesiam.commands.option_types import OutputDir, OutputFile, checked_by, count
from caffesiam.files import staged
from caffesiam.train.checks import check_blas_threads, check_gpu_ids, check_image_name
from caffesiam.train.gather import plan_training
from caffesiam.train.launch import launch_for
from caffesiam.train.plan import TrainRequest
from caffesiam.train.run import prepare_run, run_training
from caffesiam.train.rundir import RUN_DIR_SUFFIX
from caffesiam.train.summary import TrainProgress, resume_hint, run_summary

_file = click.Path(dir_okay=False, path_type=Path)
_INTERRUPTED = "\ninterrupt: asking Caffe to snapshot and stop (Ctrl-C again to kill it)"


@click.command()
@click.argument("solver", type=_file)
@click.option("--cpu", "force_cpu", is_flag=True, help="Train on the CPU whatever the solver says.")
@click.option("--gpu", callback=checked_by(check_gpu_ids), help="GPU id, list (0,1) or 'all'.")
@click.option("--weights", type=_file, help="Fine-tune from these weights.")
@click.option("--resume", type=_file, help="Continue from this .solverstate.")
@click.option("--max-iter", type=count(), help="Override the solver's max_iter.")
@click.option(
    "--out",
    type=OutputDir(),
    help=f"Run directory (default: <snapshot_prefix>{RUN_DIR_SUFFIX} next to the snapshots).",
)
@click.option(
    "--docker",
    "image",
    callback=checked_by(check_image_name),
    help="Run Caffe in this Docker image (no Caffe needed on this host).",
)
@click.option("--log", "log_copy", type=OutputFile(), help="Also copy the full log here.")
@click.option(
    "--blas-threads",
    default="auto",
    show_default=True,
    callback=checked_by(check_blas_threads),
    help="CPU threads (Caffe's OpenMP and OpenBLAS together): 'auto' measures 1 vs all cores "
    "once per run.",
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
    request = TrainRequest(
        solver,
        gpu=gpu,
        force_cpu=force_cpu,
        weights=weights,
        resume=resume,
        max_iter=max_iter,
        out=out,
    )
    launch = launch_for(image)
    plan = plan_training(request, cpu_only_build=launch.cpu_only_build, launch=launch)
    setup = prepare_run(plan, launch, blas_threads)
    click.echo(f"run directory: {plan.run_dir}")
    if setup.threads is not None:
        click.echo(f"CPU threads: {setup.threads} ({setup.why})")
    result = _run_with_progress(plan, launch, setup, verbose)
    if log_copy:
        with staged() as stage:
            shutil.copyfile(result.log_path, stage(log_copy))
    click.echo(run_summary(result, launch.timed_process))
    if result.interrupted:
        state = result.metrics.last_solverstate
        if state:
            click.echo(resume_hint(plan, state))
        else:
            click.echo("stopped before any snapshot was written", err=True)
        raise SystemExit(130)


def _run_with_progress(plan, launch, setup, verbose):
    """Caffe's raw log (--verbose), a progress bar on a terminal, else nothing while it runs."""
    interrupts = runner.Interrupts(on_first=lambda: click.echo(_INTERRUPTED, err=True))
    run = partial(
        run_training,
        plan,
        setup.argv,
        setup.env,
        interrupts=interrupts,
        launch_failure=launch.failure,
        in_container=launch.in_container,
    )
    if verbose:
        return run(on_line=lambda line: click.echo(line, nl=False, err=True))
    if not sys.stderr.isatty():  # no bar in a log file or pipe
        return run()
    progress = TrainProgress(plan.start_iter)
    with click.progressbar(
        length=plan.iterations,
        label="training",
        file=click.get_text_stream("stderr"),
        show_pos=True,
        item_show_func=lambda _: progress.status(),
    ) as bar:
        result = run(on_event=lambda event: bar.update(progress.advance(event)))
        if not result.interrupted:
            bar.update(max(plan.iterations - bar.pos, 0))
    return result
