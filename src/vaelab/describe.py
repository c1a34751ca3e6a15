"""The one line that names a model: every place that shows a model (CLI tables,
``vaelab compare``, figure captions, the report) calls ``describe_model``.

Input is a config as stored in a run directory (``config.json``'s "config" table, a
nested dict), so readers of old runs need no model to describe one.
"""

from __future__ import annotations

from typing import Any


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key, {}) if isinstance(config, dict) else {}
    return value if isinstance(value, dict) else {}


def _joined(values: Any, sep: str) -> str:
    return sep.join(str(v) for v in values) if isinstance(values, list) else str(values)


def network_text(net: dict[str, Any]) -> str:
    name = net.get("name", "mlp")
    if name == "conv":
        text = f"conv {_joined(net.get('channels', []), '-')}"
    else:
        hidden = net.get("hidden") or []
        text = f"{name} {_joined(hidden, '-')}" if hidden else f"{name} linear"
        if net.get("gated"):
            text += " gated"
    return f"{text}, z = {net.get('latent_dim')}, {net.get('activation')}"


def likelihood_text(lik: dict[str, Any]) -> str:
    name = str(lik.get("name"))
    if name in ("gaussian", "laplace"):
        return f"{name} ({'σ' if name == 'gaussian' else 'b'} = {lik.get('sigma'):g})"
    if name.endswith("-learned"):
        return (f"{name} ({lik.get('learned_scale')} scale in [{lik.get('sigma_min')}, "
                f"{lik.get('sigma_max')}])")
    if name == "perceptual":
        return (f"perceptual (λ = {lik.get('perceptual_weight')}, pixel loss "
                f"{lik.get('pixel_loss')})")
    return name


def prior_text(prior: dict[str, Any]) -> str:
    name = str(prior.get("name"))
    if name == "normal":
        return f"normal N({prior.get('mean')}, {prior.get('std')}²)"
    if name == "laplace":
        return f"laplace ({prior.get('mean')}, b = {prior.get('scale')})"
    if name in ("mog", "vampprior"):
        return f"{name} ({prior.get('components')} components)"
    return name


def objective_text(obj: dict[str, Any]) -> str:
    name = str(obj.get("name"))
    parts = []
    if name != "ae" and obj.get("beta", 1.0) != 1.0:
        parts.append(f"β = {obj.get('beta')}")
    if obj.get("warmup"):
        parts.append(f"{obj.get('anneal')} warm-up {obj.get('warmup')} {obj.get('warmup_unit')}")
    if obj.get("free_bits"):
        parts.append(f"free bits {obj.get('free_bits')} nats/dim")
    if name == "iwae":
        parts.append(f"k = {obj.get('iwae_k')}")
    return f"{name} ({', '.join(parts)})" if parts else name


def describe_model(config: dict[str, Any]) -> str:
    """'mlp 400, z = 20, relu; bernoulli; normal N(0, 1²); elbo' for a stored config."""
    return "; ".join([network_text(_section(config, "network")),
                      likelihood_text(_section(config, "likelihood")),
                      prior_text(_section(config, "prior")),
                      objective_text(_section(config, "objective"))])
