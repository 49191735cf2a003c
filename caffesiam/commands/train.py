import json
import os
import shlex
import shutil

import click

from caffesiam.caffe import locate, runner
from caffesiam.errors import BadInput
from caffesiam.train.blas_threads import choose_threads
from caffesiam.train.gather import plan_training
from caffesiam.train.log import Snapshot, TestPoint, TrainPoint
from caffesiam.train.run import caffe_env, run_training, write_run_solver


def _gpu_option(value):
    if value is None or value == "all" or all(part.isdigit() for part in value.split(",")):
        return value
    raise click.BadParameter("use an id (0), a list (0,1) or 'all'")


def _blas_threads(plan, option, caffe):
    """OpenBLAS threads for a CPU run: the user's setting, else the faster one measured now.
    Returns (threads or None, reason, {threads: ms measured})."""
    if plan.gpu is not None:
        return None, "GPU run", {}
    if option != "auto":
        return int(option), "--blas-threads", {}
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return int(os.environ["OPENBLAS_NUM_THREADS"]), "OPENBLAS_NUM_THREADS", {}
    threads, timings = choose_threads(caffe, plan.net_path, plan.cwd)
    measured = ", ".join(f"{t} thread(s) {ms:.1f} ms" for t, ms in sorted(timings.items()))
    return threads, (f"measured forward-backward: {measured}" if measured else "default"), timings


@click.command()
@click.argument("solver", type=click.Path(dir_okay=False))
@click.option("--cpu", "force_cpu", is_flag=True, help="Train on the CPU whatever the solver says.")
@click.option("--gpu", callback=lambda c, p, v: _gpu_option(v), help="GPU id, list (0,1) or 'all'.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Fine-tune from these weights.")
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue from this .solverstate.")
@click.option("--max-iter", type=click.IntRange(min=1), help="Override the solver's max_iter.")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Run directory (default: <snapshot_prefix>_run next to the snapshots).")
@click.option("--docker", "image", help="Run Caffe in this Docker image.")
@click.option("--log", "log_copy", type=click.Path(dir_okay=False), help="Also copy the full log here.")
@click.option("--blas-threads", default="auto", show_default=True,
              help="OpenBLAS threads for CPU runs: 'auto' measures 1 vs all cores once per net.")
@click.option("-v", "--verbose", is_flag=True, help="Show Caffe's raw log instead of a progress bar.")
def train(solver, force_cpu, gpu, weights, resume, max_iter, out, image, log_copy, blas_threads, verbose):
    """Train with the real `caffe train`: progress bar, metrics.csv, loss.png, safe Ctrl-C.

    The first Ctrl-C makes Caffe snapshot and stop, and prints the --resume command;
    a second one stops at once. Existing snapshots are never overwritten.
    """
    if force_cpu and gpu:
        raise click.BadParameter("--cpu and --gpu exclude each other", param_hint="--gpu")
    if blas_threads != "auto" and not blas_threads.isdigit():
        raise click.BadParameter("'auto' or a number", param_hint="--blas-threads")
    docker = runner.which("docker") if image else None
    if image and docker is None:
        raise BadInput("--docker was given but no docker client is installed")
    cpu_only = locate.is_cpu_only_build() if not image else False
    plan = plan_training(solver, gpu=gpu, cpu_only_build=cpu_only, weights=weights, resume=resume,
                         max_iter=max_iter, out=out, force_cpu=force_cpu)
    caffe = "caffe" if image else locate.caffe_binary()
    write_run_solver(plan)
    threads, why, timings = _blas_threads(plan, blas_threads, caffe if not image else locate.caffe_binary())
    (plan.run_dir / "blas_threads.json").write_text(
        json.dumps({"threads": threads, "reason": why, "forward_backward_ms": timings}, indent=1))
    env = caffe_env(threads)
    argv = runner.caffe_train_argv(caffe, plan.run_solver, plan.gpu, plan.weights, plan.resume)
    if image:
        passed = {k: env[k] for k in ("GLOG_logtostderr", "GLOG_minloglevel", "OPENBLAS_NUM_THREADS") if k in env}
        mounts = [plan.cwd, plan.run_dir, plan.net_path, plan.snapshot_prefix.parent, *plan.sources,
                  *(p for p in (plan.weights, plan.resume) if p)]
        argv = runner.docker_argv(docker, image, argv, mounts, plan.cwd, passed, plan.gpu,
                                  user=f"{os.getuid()}:{os.getgid()}")
    click.echo(f"run directory: {plan.run_dir}", err=True)
    if threads is not None:
        click.echo(f"OpenBLAS threads: {threads} ({why})", err=True)
    result = _run_with_progress(plan, argv, env, verbose)
    if log_copy:
        shutil.copyfile(result.log_path, log_copy)
    _report(plan, result)


def _run_with_progress(plan, argv, env, verbose):
    interrupts = runner.Interrupts(on_first=lambda: click.echo(
        "\ninterrupt: asking Caffe to snapshot and stop (Ctrl-C again to kill it)", err=True))
    if verbose:
        return run_training(plan, argv, env, on_line=lambda line: click.echo(line, nl=False, err=True),
                            interrupts=interrupts)
    state = {"loss": None, "test": None, "done": plan.start_iter}
    with click.progressbar(length=plan.iterations, label="training", file=click.get_text_stream("stderr"),
                           show_pos=True, item_show_func=lambda _: _status(state)) as bar:
        def on_event(event):
            if isinstance(event, TrainPoint):
                bar.update(max(event.iteration - state["done"], 0), event)
                state["done"] = max(state["done"], event.iteration)
                state["loss"] = event.loss
            elif isinstance(event, TestPoint) and "loss" in event.outputs:
                state["test"] = event.outputs["loss"]
            elif isinstance(event, Snapshot):
                state["snapshot"] = event.path

        result = run_training(plan, argv, env, on_event=on_event, interrupts=interrupts)
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


def _report(plan, result):
    m = result.metrics
    click.echo(f"log: {result.log_path}\nmetrics: {result.csv_path}\ncurve: {result.plot_path}")
    if m.snapshots:
        click.echo(f"last snapshot: {m.snapshots[-1]}")
    if result.interrupted:
        state = m.last_solverstate
        if state:
            click.echo(f"stopped with a snapshot at {state}; continue with:\n  caffesiam train "
                       f"{shlex.quote(str(plan.run_solver))} --resume {shlex.quote(str(plan.cwd / state))}")
        else:
            click.echo("stopped before any snapshot was written", err=True)
        raise SystemExit(130)
