"""The command-line entry point: one group, clean errors, commands in caffesiam/commands/."""

import importlib
import os
import re
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
        """click's usual handling, except that a usage error is one line: what is wrong, then
        --help."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except BrokenPipeError:
            reader_gone()
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx else "caffesiam"
            click.echo(
                f"{where}: error: {one_line(e.format_message()).rstrip('.')} (see {where} --help)",
                err=True,
            )
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
            click.echo(f"caffesiam: error: {one_line(str(e))}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("caffesiam: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            reader_gone()
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:  # the last net under every check: still one line, never a traceback
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exception(e)
            click.echo(f"caffesiam: error: {one_line(unexpected(e))}", err=True)
            ctx.exit(1)


def reader_gone():
    """stdout's reader has gone (`caffesiam doctor | head`): stop quietly, as `cat` does. Output
    still buffered goes to /dev/null, so that the exit does not fail to flush it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)  # 128 + SIGPIPE, the status a shell reports for a writer the pipe killed


def one_line(text: str) -> str:
    """A message on one line, whatever text (a tool's output, a file name) went into it."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text.strip())


def unexpected(e: BaseException) -> str:
    """One line for a failure no check foresaw: the system's words where it has them, else a bug
    report."""
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if isinstance(e, MemoryError):
        return "out of memory"
    detail = one_line(str(e))[:200]
    return (
        f"internal error ({type(e).__name__}{': ' + detail if detail else ''}); this is a bug: "
        f"rerun with 'caffesiam --debug' for the traceback and report it"
    )


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
