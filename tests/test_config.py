"""Config: defaults, files, overrides and every validation error path."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaelab.config import FIELDS, FLAT_OPTIONS, Config, read_config_file
from vaelab.errors import VaelabError


def test_defaults_are_valid_and_round_trip_through_dict():
    config = Config()
    assert Config.from_dict(config.to_dict()) == config


def test_flat_overrides_reach_their_sections():
    config = Config().replace(epochs=3, hidden="512,256", latent_dim=2, likelihood="gaussian",
                              beta=0.5, lr="1e-4")
    assert config.train.epochs == 3
    assert config.network.hidden == [512, 256]
    assert config.network.latent_dim == 2
    assert config.likelihood.name == "gaussian"
    assert config.objective.beta == 0.5
    assert config.train.lr == 1e-4


def test_hidden_none_gives_the_vanilla_single_layer():
    assert Config().replace(hidden="none").network.hidden == []
    assert Config().replace(hidden=[]).network.hidden == []


def test_every_field_has_a_unique_cli_name_and_help():
    assert len(FLAT_OPTIONS) == len(FIELDS)
    assert all(spec.help for spec in FIELDS)


@pytest.mark.parametrize("override, fragment", [
    ({"beta": -1}, "--beta"),
    ({"latent_dim": 0}, "--latent-dim"),
    ({"lr": 0}, "--lr"),
    ({"lr": -0.1}, "--lr"),
    ({"hidden": "512,0"}, "hidden size"),
    ({"subset": 0}, "--subset"),
    ({"epochs": 0}, "--epochs"),
    ({"batch_size": 0}, "--batch-size"),
    ({"val_fraction": 1.0}, "--val-fraction"),
    ({"sigma": 0}, "--sigma"),
    ({"lr": float("nan")}, "finite"),
    ({"likelihood": "bernouli"}, "did you mean 'bernoulli'"),
    ({"dataset": "mnits"}, "did you mean 'mnist'"),
    ({"activation": "rleu"}, "did you mean 'relu'"),
    ({"binarize": "dynamc"}, "did you mean 'dynamic'"),
    ({"epochs": "three"}, "expects an integer"),
    ({"epochs": 2.5}, "expects an integer"),
    ({"lr": "fast"}, "expects a number"),
    ({"hidden": "a,b"}, "list of integers"),
    ({"latent_dim": None}, "may not be empty"),
    ({"lattent_dim": 3}, "did you mean 'latent-dim'"),
])
def test_bad_values_raise_one_clear_line(override, fragment):
    with pytest.raises(VaelabError) as info:
        Config().replace(**override)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_unknown_keys_and_sections_in_files(tmp_path):
    bad_key = tmp_path / "a.toml"
    bad_key.write_text("[train]\nepochz = 3\n")
    with pytest.raises(VaelabError, match=r"unknown config key train.epochz \(did you mean "
                                          r"'epochs'\?\)"):
        Config.from_dict(read_config_file(bad_key))
    flat = tmp_path / "b.json"
    flat.write_text(json.dumps({"epochs": 3}))
    with pytest.raises(VaelabError, match=r"did you mean \[train\] epochs"):
        Config.from_dict(read_config_file(flat))
    not_table = tmp_path / "c.json"
    not_table.write_text(json.dumps({"train": 3}))
    with pytest.raises(VaelabError, match="must be a table"):
        Config.from_dict(read_config_file(not_table))


def test_config_files_toml_and_json_and_errors(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[data]\ndataset = "digits"\n[network]\nhidden = [64, 32]\n'
                    '[train]\nepochs = 2\nlr = 0.01\n')
    config = Config.from_dict(read_config_file(toml))
    assert (config.data.dataset, config.network.hidden, config.train.epochs) == (
        "digits", [64, 32], 2)
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"config": config.to_dict(), "seed": 0}))  # a run's config.json
    assert Config.from_dict(read_config_file(js)) == config
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n")
    with pytest.raises(VaelabError, match="not valid TOML"):
        read_config_file(broken)
    with pytest.raises(VaelabError, match="does not exist"):
        read_config_file(tmp_path / "missing.toml")
    yaml = tmp_path / "c.yaml"
    yaml.write_text("a: 1")
    with pytest.raises(VaelabError, match="use .toml or .json"):
        read_config_file(yaml)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["data", "network", "train", "prior", "bogus", "epochs"]),
                       st.one_of(st.dictionaries(st.text(max_size=12), st.one_of(
                           st.none(), st.booleans(), st.integers(), st.floats(),
                           st.text(max_size=8), st.lists(st.integers(), max_size=3))),
                           st.integers(), st.text(max_size=5)), max_size=4))
def test_fuzzed_config_tables_raise_only_vaelab_errors(raw):
    try:
        Config.from_dict(raw)
    except VaelabError as err:
        assert "\n" not in str(err)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([spec.cli for spec in FIELDS]),
       st.one_of(st.text(max_size=10), st.integers(), st.floats(), st.none()))
def test_fuzzed_flat_overrides_raise_only_vaelab_errors(option, value):
    try:
        Config().replace(**{option: value})
    except VaelabError:
        pass


OLD_STORED_CONFIG = {  # config.json of vaelab 0.1: every option of every component
    "data": {"dataset": "mnist", "data_dir": None, "path": None, "test_path": None,
             "binarize": "dynamic", "val_fraction": 0.1, "split_seed": 0, "subset": None},
    "network": {"name": "mlp", "latent_dim": 20, "hidden": [400], "activation": "relu",
                "init": "default", "gated": False, "channels": [32, 64]},
    "likelihood": {"name": "bernoulli", "sigma": 0.7071067811865476,
                   "learned_scale": "per-pixel", "sigma_min": 0.01, "sigma_max": 10.0,
                   "perceptual_weight": 1.0, "pixel_loss": "none"},
    "prior": {"name": "laplace", "mean": 0.0, "std": 1.0, "scale": 2.0, "components": 10},
    "objective": {"name": "iwae", "beta": 1.0, "warmup": 0.0, "warmup_unit": "epochs",
                  "anneal": "linear", "free_bits": 0.0, "iwae_k": 7},
    "train": {"epochs": 10, "batch_size": 128, "lr": 0.001, "weight_decay": 0.0,
              "grad_clip": None, "seed": 0, "device": "auto", "eval_batch_size": 2000,
              "nan_policy": "stop"},
}


def test_a_stored_config_of_the_previous_version_still_loads():
    config = Config.from_dict(OLD_STORED_CONFIG)
    assert config.prior.to_dict() == {"name": "laplace", "mean": 0.0, "scale": 2.0}
    assert config.objective.to_dict() == {"name": "iwae", "iwae_k": 7}
    assert "channels" not in config.network.to_dict()
    # Round trip of the new form; the sweep's "would this run change" test agrees.
    assert Config.from_dict(config.to_dict()) == config
    from vaelab.sweep.runner import _same_config

    assert _same_config(OLD_STORED_CONFIG, config.to_dict())


@pytest.mark.parametrize("override, fragment", [
    ({"objective": "iwae", "beta": 0.3}, "objective iwae does not read --beta"),
    ({"objective": "ae", "warmup": 2}, "objective ae does not read --warmup"),
    ({"objective": "iwae", "free_bits": 0.1}, "objective iwae does not read --free-bits"),
    ({"prior_df": 3}, "prior normal does not read --prior-df"),
    ({"sigma": 0.2}, "likelihood bernoulli does not read --sigma"),
    ({"network": "conv", "gated": True}, "network conv does not read --gated"),
])
def test_an_option_the_component_does_not_read_is_refused(override, fragment):
    with pytest.raises(VaelabError) as info:
        Config().replace(**override)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_switching_component_keeps_shared_options_and_refuses_orphans():
    base = Config().replace(prior="laplace", prior_mean=1.5, prior_scale=2.0)
    moved = base.replace(prior="student-t")
    assert (moved.prior.mean, moved.prior.scale) == (1.5, 2.0)  # both read them
    normal = Config().replace(prior_std=2.0)
    with pytest.raises(VaelabError, match="prior laplace does not read --prior-std"):
        normal.replace(prior="laplace")
    # An option spelled out at its default states nothing and is accepted.
    assert Config().replace(objective="iwae", beta=1.0).objective.to_dict() == {
        "name": "iwae", "iwae_k": 5}


def test_cli_flags_come_from_every_registered_component():
    from vaelab.config import flat_options

    options = flat_options()
    assert options["prior-df"].owners == ("student-t",)
    assert set(options["prior-scale"].owners) == {"laplace", "student-t"}
    assert options["capacity-max"].owners == ("capacity",)
    assert "student-t" in options["prior-df"].help


def test_a_shared_option_with_different_defaults_shows_each_owners_default():
    from vaelab.config import flat_options

    gamma = flat_options()["gamma"]
    owners = dict(gamma.owner_defaults)
    assert gamma.default is None and owners["capacity"] != owners["factorvae"]
    assert "capacity" in gamma.default_text and "factorvae" in gamma.default_text
    # Each component keeps its own default.
    assert Config().replace(objective="capacity").objective.gamma == owners["capacity"]
    assert Config().replace(objective="factorvae").objective.gamma == owners["factorvae"]
