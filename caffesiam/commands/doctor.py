"""doctor: what is installed and where (caffe.doctor's findings), printed."""

import click

from caffesiam.caffe.doctor import NEEDS_BUILD, WORKS_WITHOUT_BUILD, run_checks
from caffesiam.caffe.locate import is_proto_only


@click.command()
def doctor():
    """Report what is installed and where; exit 1 if something required is missing."""
    findings = run_checks()
    for f in findings:
        mark = "ok " if f.ok else ("MISSING" if f.required else "-- ")
        click.echo(f"{mark:7} {f.name:24} {f.detail}")
        if not f.ok and f.fix:
            click.echo(f"{'':7} {'':24} fix: {f.fix}")
    missing = [f.name for f in findings if f.required and not f.ok]
    if missing:
        click.echo(f"missing: {', '.join(missing)}; run 'make setup'", err=True)
        raise SystemExit(1)
    if is_proto_only():
        click.echo(f"works here: {WORKS_WITHOUT_BUILD}")
        click.echo(f"needs a Caffe build (make setup): {NEEDS_BUILD}")
    else:
        click.echo("all required parts present")
