"""The ``vaelab`` command group and its entry point. Commands live in one module per
topic beside this file and register themselves on ``cli``; user errors print one line
and exit with code 2."""

from __future__ import annotations

import sys

import click

from vaelab.errors import VaelabError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="vaelab")
def cli() -> None:
    """vaelab: train, evaluate and explain variational autoencoders.

    Data sets are found in --data-dir, $VAELAB_DATA/<name>/, ~/.cache/vaelab/<name>/ or
    /usr/share/datasets/<name>/ (see `vaelab datasets`).
    """


def main() -> None:
    try:
        cli.main(prog_name="vaelab", standalone_mode=False)
    except VaelabError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted; files of the last complete epoch are kept", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as err:  # bare `vaelab`: its help, as click
        err.show()
        sys.exit(err.exit_code)
    except click.UsageError as err:
        # One line, as every other user error: click's own is a four-line usage block.
        where = f" (see {err.ctx.command_path} --help)" if err.ctx is not None else ""
        click.echo(f"error: {err.format_message()}{where}", err=True)
        sys.exit(2)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
