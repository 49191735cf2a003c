"""The command-line entry point: one group, clean errors, commands in caffesiam/commands/."""

import importlib
import sys
import traceback

import click

from caffesiam import __version__
from caffesiam.commands import COMMANDS
from caffesiam.errors import CaffesiamError


class CaffesiamGroup(click.Group):
    """Turns CaffesiamError into one line on stderr and its exit code; --debug shows the cause.

    Commands load on first use (see caffesiam.commands.COMMANDS), which keeps startup short.
    """

    def list_commands(self, ctx):
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            command = getattr(importlib.import_module(f"caffesiam.commands.{module}"), attr)
            self.add_command(command, name)
        return self.commands.get(name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's usual handling, except that a usage error is one line: what is wrong, then --help."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx else "caffesiam"
            click.echo(f"{where}: error: {e.format_message().rstrip('.')} (see {where} --help)", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CaffesiamError as e:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exception(e)
            click.echo(f"caffesiam: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("caffesiam: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=CaffesiamGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="caffesiam")
@click.option("--debug", is_flag=True, help="Show the full cause of an error.")
@click.pass_context
def main(ctx, debug):
    """Siamese networks in Caffe: pair databases, nets, training, diagrams, evaluation.

    Labels follow Caffe's convention everywhere: sim = 1 means the two images show
    the same class (Hadsell et al. and the PyTorch examples use the opposite).
    """
    ctx.ensure_object(dict)["debug"] = debug


if __name__ == "__main__":
    sys.exit(main())
