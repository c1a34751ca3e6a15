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
