"""sweep: many trainings from one sweep file, here or on a Slurm array; status, resume, report."""

from pathlib import Path

import click

from caffesiam.commands.option_types import OutputDir, count
from caffesiam.commands.options import option_group, table_options
from caffesiam.commands.progress import progress_bar
from caffesiam.sweep import launch
from caffesiam.sweep.expand import plan_lines
from caffesiam.sweep.report import write_report
from caffesiam.sweep.settings import ENGINE_OPTIONS, merge_settings, this_machine, train_options
from caffesiam.sweep.status import DONE, point_list, resume_command, summary_lines, sweep_status
from caffesiam.sweep.task import run_point as run_one_point

_dir = click.Path(exists=True, file_okay=False, path_type=Path)


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
    caffesiam sweep SWEEP.yaml [--engine local|slurm]  a run directory per point, run them all
    caffesiam sweep status DIR                         where each point stands (squeue, sacct)
    caffesiam sweep resume DIR                         run the points that did not finish
    caffesiam sweep report DIR                         results.csv, curves.png, accuracy.png
    """


engine_options = option_group(
    table_options(ENGINE_OPTIONS),
    click.option("--wait", is_flag=True, help="Slurm: wait for the array, showing progress."),
)


@sweep.command("run")
@click.argument("sweep_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=OutputDir(), help="Output dir [default: SWEEP_FILE less .yaml].")
@engine_options
@click.option(
    "--dry-run", is_flag=True, help="Check all, print the points' commands; make nothing."
)
def run(sweep_file, out, wait, dry_run, **given):
    """Expand SWEEP_FILE into a run directory per point and run every point (train, then evaluate).

    Each run directory holds its train net, deploy net, solver, point.json and command.sh, the exact
    commands. Every point's nets, solver and databases, the evaluate block and the engine are
    checked first: nothing is made when any is bad, and no run directory is overwritten.
    """
    settings, machine = merge_settings({}, **given), this_machine()
    plan = launch.load_sweep(sweep_file, settings, machine)
    out = (out or sweep_file.resolve().with_suffix("")).absolute()
    with progress_bar(len(plan.points), "checking the points") as advance:
        files = launch.check_sweep(plan, out, settings, machine, advance)
    if dry_run:
        return click.echo("\n".join(plan_lines(plan, out)))
    launch.create_sweep(plan, out, sweep_file.resolve(), settings, files)
    click.echo(f"sweep directory: {out} ({len(plan.points)} points)")
    _launch(out, settings, machine, [p.index for p in plan.points], wait)


@sweep.command("resume")
@click.argument("sweep_dir", type=_dir)
@engine_options
def resume(sweep_dir, wait, **given):
    """Run the points of SWEEP_DIR that have not finished (failed, cancelled, never started).

    Finished points are left alone; queued and running ones too. A training that stopped with a
    snapshot continues from it. Engine options default to the ones the sweep was started with.
    """
    sweep_dir, machine = sweep_dir.absolute(), this_machine()
    todo = launch.plan_resume(sweep_dir, machine, **given)
    if todo.busy:
        states = ", ".join(sorted({s.state for s in todo.busy}))
        click.echo(f"left alone, still {states}: {point_list(todo.busy)}", err=True)
    if not todo.todo:
        still = " or still queued/running" if todo.busy else ""
        return click.echo(f"nothing to resume: every point is done{still}")
    launch.prepare_resume(sweep_dir, todo, machine)
    click.echo(f"resuming {len(todo.todo)} point(s): {point_list(todo.todo)}")
    _launch(sweep_dir, todo.settings, machine, [s.point.index for s in todo.todo], wait)


def _launch(sweep_dir: Path, settings, machine, indices: list[int], wait: bool):
    if settings.engine == "slurm":
        job = launch.submit(sweep_dir, settings, machine, indices)
        follow = f"follow it with: caffesiam sweep status {sweep_dir}"
        click.echo(f"submitted Slurm array job {job} ({len(indices)} task(s)); {follow}")
        if wait:
            with progress_bar(len(indices), "waiting for Slurm") as advance:
                launch.wait(sweep_dir, len(indices), advance)
            if any(s.state != DONE for s in _summary(sweep_dir)):
                raise SystemExit(1)
        return
    threads = " ".join(train_options(settings, machine.cores))
    click.echo(f"running {len(indices)} point(s), {settings.jobs} at a time ({threads})", err=True)
    with progress_bar(len(indices), "points") as advance:
        tell = lambda failed: click.echo(f"\n{failed.failure()}", err=True)  # noqa: E731
        try:
            ended = launch.run_local(sweep_dir, settings, machine, indices, advance, tell)
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted; continue with: {resume_command(sweep_dir)}", err=True)
            raise SystemExit(130) from None
    _summary(sweep_dir)
    if any(done.status != 0 for done in ended):
        raise SystemExit(1)


@sweep.command("status")
@click.argument("sweep_dir", type=_dir)
def status(sweep_dir):
    """Where each point of SWEEP_DIR stands: done (with its accuracy), pending, running, failed,
    cancelled, not started; Slurm's word from squeue, or sacct once squeue has forgotten the job."""
    _summary(sweep_dir.absolute(), every_point=True)


def _summary(sweep_dir, every_point=False):
    statuses = sweep_status(sweep_dir)
    click.echo("\n".join(summary_lines(statuses, sweep_dir, every_point)))
    return statuses


@sweep.command("report")
@click.argument("sweep_dir", type=_dir)
@click.option("-o", "--out", type=OutputDir(), help="Where the report goes [default: SWEEP_DIR].")
def report(sweep_dir, out):
    """results.csv (one row per point: its overrides, held-out accuracy, AUC, EER, training time
    and iterations/s), curves.png (every run's test loss) and accuracy.png."""
    click.echo("\n".join(f"wrote {path}" for path in write_report(sweep_dir, out or sweep_dir)))


@sweep.command("run-point", hidden=True)
@click.argument("sweep_dir", type=_dir)
@click.argument("index", type=count(min=0))
def run_point(sweep_dir, index):
    """What each engine runs for one point: train (or continue it), then evaluate."""
    raise SystemExit(run_one_point(sweep_dir, index))
