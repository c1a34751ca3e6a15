"""The binarisation modes of ``--binarize`` (data/prepare.py applies them): their names,
what each is comparable with, and old spellings. Its own module so that the config layer
can list the choices without importing the data pipeline.
"""

from __future__ import annotations

BINARIZE_MODES: dict[str, str] = {
    "none": "grey values x/255 in [0, 1], as stored",
    "dynamic": "a fresh Bernoulli(x) draw for every training batch, validation and test "
               "scored on one fixed draw: comparable with the usual IWAE/VAE MNIST NLL "
               "tables (Burda et al. 2015)",
    "fixed": "one fixed Bernoulli(x) draw of every split, kept for all epochs: the "
             "statically binarised MNIST of Larochelle & Murray (2011)",
    "threshold": "x/255 > 0.5 once, for all splits: comparable with neither dynamic nor "
                 "statically binarised results",
    "static": "the old name of threshold (x/255 > 0.5), kept for config files and stored runs",
}
BINARIZE_ALIASES = {"static": "threshold"}


def canonical_binarize(mode: str) -> str:
    """The mode a (possibly old) ``--binarize`` name stands for."""
    return BINARIZE_ALIASES.get(mode, mode)
