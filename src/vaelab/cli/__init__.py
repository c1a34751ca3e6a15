"""The ``vaelab`` command line: ``app`` holds the group and the entry point; each module
beside it adds the commands of one topic."""

from vaelab.cli import (  # noqa: F401  (importing registers the commands)
    datasets,
    evaluate,
    images,
    plot,
    recipe,
    report,
    sweep,
    train,
)
from vaelab.cli.app import CONTEXT, cli, main

__all__ = ["CONTEXT", "cli", "main"]
