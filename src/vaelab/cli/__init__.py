"""The ``vaelab`` command line: ``app`` holds the group and the entry point; each module
beside it adds the commands of one topic."""

from vaelab.cli import datasets, evaluate, images, plot, train  # noqa: F401  (registers commands)
from vaelab.cli.app import CONTEXT, cli, main

__all__ = ["CONTEXT", "cli", "main"]
