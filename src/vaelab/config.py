"""The run configuration: one dataclass per section, each field carrying its own help,
range and CLI name, so the CLI, the config-file reader and the validator are all
generated from this one place (nanoGPT style: each component owns its defaults).

A config file (TOML or JSON) has the same sections as ``Config``:

    [data]
    dataset = "mnist"
    [network]
    hidden = [512, 256]
    [train]
    epochs = 20

Precedence: dataclass defaults < config file < command-line options.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaelab.errors import VaelabError, shown
from vaelab.registry import did_you_mean


def option(
    default: Any,
    help: str,
    *,
    cli: str | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Callable[[], list[str]] | None = None,
) -> Any:
    """A config field. ``low``/``high`` bound numbers (open or closed), ``choices``
    lazily lists allowed strings (usually a registry's names), ``cli`` overrides the
    option name (default: the field name with dashes)."""
    meta = dict(help=help, cli=cli, low=low, high=high, low_open=low_open,
                high_open=high_open, choices=choices)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _dataset_names() -> list[str]:
    from vaelab.data.datasets import DATASETS

    return DATASETS.names()


def _likelihood_names() -> list[str]:
    from vaelab.likelihoods import LIKELIHOODS

    return LIKELIHOODS.names()


def _prior_names() -> list[str]:
    from vaelab.priors import PRIORS

    return PRIORS.names()


def _objective_names() -> list[str]:
    from vaelab.objectives import OBJECTIVES

    return OBJECTIVES.names()


def _schedule_names() -> list[str]:
    from vaelab.objectives.schedules import KL_SCHEDULES

    return KL_SCHEDULES.names()


def _network_names() -> list[str]:
    from vaelab.networks import NETWORKS

    return NETWORKS.names()


def _activation_names() -> list[str]:
    from vaelab.networks import ACTIVATIONS

    return ACTIVATIONS.names()


def _init_names() -> list[str]:
    from vaelab.networks import INITS

    return INITS.names()


def _binarize_names() -> list[str]:
    from vaelab.data.prepare import BINARIZE_MODES

    return list(BINARIZE_MODES)


@dataclass
class DataConfig:
    dataset: str = option("mnist", "Dataset name (see `vaelab datasets`).", choices=_dataset_names)
    data_dir: str | None = option(
        None, "Folder holding the dataset files (searched before $VAELAB_DATA/<name>).")
    path: str | None = option(
        None, "File for the csv/npz datasets (Kaggle CSV layout or npz with x, y).",
        cli="data-path")
    test_path: str | None = option(
        None, "Test file for csv/npz; without it a test split is held out of --data-path.")
    binarize: str = option(
        "none", "none: grey values in [0,1]; dynamic: a fresh Bernoulli draw each time an "
        "image is used (the NLL-benchmark standard); static: threshold at 0.5.",
        choices=_binarize_names)
    val_fraction: float = option(
        0.1, "Fraction of the training file held out for validation.", low=0.0, high=1.0,
        high_open=True)
    split_seed: int = option(0, "Seed of the train/validation split (kept apart from --seed "
                             "so seeds of a sweep share one split).", low=0)
    subset: int | None = option(
        None, "Use only the first N images of the training split (after the split), and at "
        "most N of validation and test; for quick runs.", low=1)


@dataclass
class NetworkConfig:
    name: str = option("mlp", "Encoder/decoder family.", cli="network", choices=_network_names)
    latent_dim: int = option(20, "Number of latent dimensions.", low=1)
    hidden: list[int] = option(
        [400], "Hidden layer sizes of the encoder (the decoder mirrors them), e.g. 512,256; "
        "'none' gives the single-linear-layer 'vanilla' VAE.")
    activation: str = option("relu", "Hidden activation.", choices=_activation_names)
    init: str = option("default", "Weight initialisation.", choices=_init_names)
    gated: bool = option(False, "MLP hidden layers as gated linear units h = (Wx)·σ(Vx) "
                         "(Dauphin et al. 2017; the VampPrior paper's MLPs).")
    channels: list[int] = option(
        [32, 64], "Channels of the conv network's stride-2 stages (each halves the image).")


@dataclass
class LikelihoodConfig:
    name: str = option("bernoulli", "Decoder likelihood p(x|z).", cli="likelihood",
                       choices=_likelihood_names)
    sigma: float = option(
        0.7071067811865476, "Fixed scale of the gaussian (std σ) and laplace (scale b) "
        "likelihoods. The default σ = 1/√2 makes the gaussian −log p = Σ(x−μ)² + const, "
        "i.e. the summed MSE.", low=0.0, low_open=True)
    learned_scale: str = option(
        "per-pixel", "gaussian-learned / laplace-learned: a scale per pixel (output by the "
        "decoder) or one shared learned scalar.", choices=lambda: ["per-pixel", "shared"])
    sigma_min: float = option(0.01, "Lower bound of a learned scale.", low=0.0, low_open=True)
    sigma_max: float = option(10.0, "Upper bound of a learned scale.", low=0.0, low_open=True)
    perceptual_weight: float = option(
        1.0, "perceptual: weight λ of the feature-matching term λ·Σ_l‖Φ_l(x) − Φ_l(x̂)‖².",
        low=0.0, low_open=True)
    pixel_loss: str = option(
        "none", "perceptual: the pixel term added to it (the seed study's "
        "'perceptual+BCE' is --perceptual-weight 0.01 --pixel-loss bce).",
        choices=lambda: ["none", "bce", "mse"])


@dataclass
class PriorConfig:
    name: str = option("normal", "Prior p(z).", cli="prior", choices=_prior_names)
    mean: float = option(0.0, "Location of the normal and laplace priors (every dimension).",
                         cli="prior-mean")
    std: float = option(1.0, "Standard deviation (not variance) of the normal prior: "
                        "N(1, 2) is --prior-mean 1 --prior-std 2.", cli="prior-std", low=0.0,
                        low_open=True)
    scale: float = option(1.0, "Scale b of the laplace prior.", cli="prior-scale", low=0.0,
                          low_open=True)
    components: int = option(10, "Components of the mog prior / pseudo-inputs of the "
                             "vampprior.", cli="prior-components", low=1)


@dataclass
class ObjectiveConfig:
    name: str = option("elbo", "Training objective.", cli="objective", choices=_objective_names)
    beta: float = option(1.0, "Weight of the KL term (beta-VAE; 1 is the true ELBO).", low=0.0)
    warmup: float = option(0.0, "Length of the KL warm-up (linear from 0 to beta) or of one "
                           "annealing cycle; 0 = none.", low=0.0)
    warmup_unit: str = option("epochs", "Unit of --warmup.",
                              choices=lambda: ["epochs", "steps"])
    anneal: str = option("linear", "KL schedule: linear warm-up, or cyclical (Fu et al. "
                         "2019: repeats every --warmup).", choices=_schedule_names)
    free_bits: float = option(0.0, "Free bits λ in nats per latent dimension (Kingma et al. "
                              "2016): Σ_j max(λ, batch-mean KL_j); 0 = off.", low=0.0)
    iwae_k: int = option(5, "Importance samples of the iwae objective.", low=1)


@dataclass
class TrainConfig:
    epochs: int = option(10, "Training epochs.", low=1)
    batch_size: int = option(128, "Mini-batch size.", low=1)
    lr: float = option(1e-3, "Adam learning rate.", low=0.0, low_open=True)
    weight_decay: float = option(0.0, "Adam weight decay (L2).", low=0.0)
    grad_clip: float | None = option(
        None, "Clip the gradient norm to this value (off by default).", low=0.0, low_open=True)
    seed: int = option(0, "Seed of initialisation, batch order, binarisation and sampling.",
                       low=0)
    device: str = option("auto", "auto (CUDA if present, else CPU), cpu, cuda or cuda:N.")
    eval_batch_size: int = option(2000, "Batch size of validation and test passes.", low=1)
    nan_policy: str = option(
        "stop", "What a non-finite loss or gradient does: stop (an error naming the step; the "
        "last checkpoint is kept) or skip (that optimiser step is dropped and counted in "
        "history's skipped_steps; more than 10% of an epoch's steps still stops).",
        choices=lambda: ["stop", "skip"])


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, where: str = "config") -> Config:
        return apply_overrides(cls(), raw, where=where)

    def replace(self, **flat: Any) -> Config:
        """A copy with flat CLI-style overrides, e.g. ``replace(epochs=3, hidden=[64])``."""
        nested: dict[str, dict[str, Any]] = {}
        for cli_name, value in flat.items():
            spec = FLAT_OPTIONS.get(cli_name.replace("_", "-"))
            if spec is None:
                raise VaelabError(
                    f"unknown option {cli_name!r}"
                    f"{did_you_mean(cli_name.replace('_', '-'), list(FLAT_OPTIONS))}")
            nested.setdefault(spec.section, {})[spec.name] = value
        return apply_overrides(self, nested, where="overrides")


@dataclass(frozen=True)
class FieldSpec:
    """One config field, addressed as ``section.name`` in files and ``--cli`` on the CLI."""

    section: str
    name: str
    cli: str
    annotation: Any
    default: Any
    help: str
    meta: dict[str, Any]


def _section_classes() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


SECTIONS = _section_classes()


def _field_specs() -> list[FieldSpec]:
    specs = []
    for section, section_cls in SECTIONS.items():
        hints = typing.get_type_hints(section_cls)
        defaults = section_cls()
        for f in dataclasses.fields(section_cls):
            meta = dict(f.metadata)
            specs.append(FieldSpec(section=section, name=f.name,
                                   cli=meta["cli"] or f.name.replace("_", "-"),
                                   annotation=hints[f.name], default=getattr(defaults, f.name),
                                   help=meta["help"], meta=meta))
    return specs


FIELDS: list[FieldSpec] = _field_specs()
FLAT_OPTIONS: dict[str, FieldSpec] = {spec.cli: spec for spec in FIELDS}
assert len(FLAT_OPTIONS) == len(FIELDS), "two config fields share one CLI option name"


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(type without Optional, whether None is allowed)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def coerce(spec: FieldSpec, value: Any, *, where: str) -> Any:
    """Convert a value from a file (JSON/TOML types) or the command line (strings) to the
    field's type; raise a one-line VaelabError naming the key otherwise."""
    base, optional = _base_type(spec.annotation)
    key = f"{where}: {spec.section}.{spec.name}"
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")
                         and base is not str):
        if optional:
            return None
        if typing.get_origin(base) is list:
            return []
        raise VaelabError(f"{key} may not be empty; give a value (default {spec.default!r})")
    try:
        if typing.get_origin(base) is list:
            items = value
            if isinstance(value, str):
                items = [v for v in value.replace(" ", "").split(",") if v != ""]
            elif not isinstance(value, list | tuple):
                raise ValueError
            return [_coerce_scalar(typing.get_args(base)[0], v) for v in items]
        return _coerce_scalar(base, value)
    except (TypeError, ValueError):
        kind = {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
            base, "a comma-separated list of integers")
        raise VaelabError(f"{key} expects {kind}, got {value!r}") from None


def _coerce_scalar(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError
        return value
    raise TypeError(kind)


def apply_overrides(config: Config, raw: dict[str, Any], *, where: str) -> Config:
    """Return a validated copy of ``config`` with the nested ``raw`` values applied."""
    if not isinstance(raw, dict):
        raise VaelabError(f"{where}: expected a table of sections like [train], got {raw!r}")
    updated = {name: dataclasses.replace(getattr(config, name)) for name in SECTIONS}
    for section, values in raw.items():
        if section not in SECTIONS:
            hint = did_you_mean(section, list(SECTIONS))
            owner = [s.section for s in FIELDS if s.name == section]
            if owner:
                hint = f" (did you mean [{owner[0]}] {section} = ...?)"
            raise VaelabError(f"{where}: unknown config section {section!r}{hint}; "
                              "sections are "
                              f"{', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise VaelabError(f"{where}: section [{section}] must be a table of keys, "
                              f"got {values!r}")
        known = {s.name: s for s in FIELDS if s.section == section}
        for key, value in values.items():
            if key not in known:
                raise VaelabError(f"{where}: unknown config key {section}.{shown(key)}"
                                  f"{did_you_mean(key, list(known))}; keys of [{section}] are "
                                  f"{', '.join(known)}")
            setattr(updated[section], key, coerce(known[key], value, where=where))
    result = Config(**updated)
    validate(result)
    return result


def validate(config: Config) -> None:
    """Check every field against its range and choices; one clear error for the first
    bad value."""
    for spec in FIELDS:
        value = getattr(getattr(config, spec.section), spec.name)
        _check_field(spec, value)


def _check_field(spec: FieldSpec, value: Any) -> None:
    meta = spec.meta
    name = f"--{spec.cli} ({spec.section}.{spec.name})"
    if value is None:
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            if isinstance(v, float) and not math.isfinite(v):
                raise VaelabError(f"{name} must be a finite number, got {v}")
            if meta["low"] is not None and (v < meta["low"] or (meta["low_open"]
                                                                and v == meta["low"])):
                relation = ">" if meta["low_open"] else ">="
                raise VaelabError(f"{name} must be {relation} {meta['low']:g}, got {v}")
            if meta["high"] is not None and (v > meta["high"] or (meta["high_open"]
                                                                  and v == meta["high"])):
                relation = "<" if meta["high_open"] else "<="
                raise VaelabError(f"{name} must be {relation} {meta['high']:g}, got {v}")
    if spec.name == "hidden" and any(v < 1 for v in values):
        raise VaelabError(f"{name}: every hidden size must be >= 1, got {value}; use 'none' "
                          "for no hidden layer")
    if meta["choices"] is not None and isinstance(value, str):
        allowed = meta["choices"]()
        if value not in allowed:
            raise VaelabError(f"{name}: unknown value {value!r}{did_you_mean(value, allowed)}; "
                              f"choose one of: {', '.join(allowed)}")


def read_toml_or_json(path: str | Path, what: str) -> Any:
    """Parse a .toml or .json file; one clear error line naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise VaelabError(f"{what} {path} does not exist; give a .toml or .json file")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        if path.suffix == ".toml":
            return tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise VaelabError(f"{what} {path} is not valid {path.suffix[1:].upper()}: "
                          f"{err}") from None
    raise VaelabError(f"{what} {path}: unknown format {path.suffix!r}; use .toml or .json")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML or JSON config file into nested sections (not yet applied)."""
    raw = read_toml_or_json(path, "config file")
    # A saved run's config.json holds the config under "config" next to provenance.
    if isinstance(raw, dict) and "config" in raw and isinstance(raw["config"], dict):
        raw = raw["config"]
    return raw
