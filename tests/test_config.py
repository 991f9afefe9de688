"""Config loading: every kind of error names the file, the key path and the fix."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.config import Config, config_from_dict, dump_config, load_config
from aimodel.errors import ConfigError
from tests.conftest import ROOT, TINY, write_config


def _cfg(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_shipped_quickstart_loads_with_defaults_filled():
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    assert isinstance(cfg, Config)
    assert cfg.dataset.name == "digits" and cfg.model.architecture == "cnn"
    assert cfg.training.steps_per_execution == 16  # a default from the schema


def test_name_defaults_to_file_stem(tmp_path):
    data = {k: v for k, v in TINY.items() if k != "name"}
    cfg = load_config(write_config(tmp_path / "my_run.yaml", data))
    assert cfg.name == "my_run"


def test_misspelt_key_suggests_the_right_one(tmp_path):
    data = dict(TINY, training={"epoch": 3})
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: training\.epoch: unknown key \(did you mean 'epochs'\?\)"):
        load_config(write_config(tmp_path / "c.yaml", data))


def test_out_of_range_value_says_expected_and_received(tmp_path):
    data = dict(TINY, training={"epochs": 0})
    with pytest.raises(ConfigError, match=r"training\.epochs: must be ≥ 1, got 0"):
        load_config(write_config(tmp_path / "c.yaml", data))


def test_wrong_type(tmp_path):
    data = dict(TINY, training={"learning_rate": "fast"})
    with pytest.raises(ConfigError, match=r"training\.learning_rate: expected a number, got 'fast'"):
        load_config(write_config(tmp_path / "c.yaml", data))


def test_unknown_registry_names_suggest_and_list(tmp_path):
    data = dict(TINY, dataset={"name": "digts"}, model={"architecture": "cnnn"})
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path / "c.yaml", data))
    text = str(err.value)
    assert "dataset.name: unknown dataset 'digts' (did you mean 'digits'?)" in text
    assert "expected one of: digits, mnist, npz" in text
    assert "model.architecture: unknown architecture 'cnnn' (did you mean 'cnn'?)" in text


def test_literal_choice_suggests(tmp_path):
    data = dict(TINY, training={"optimizer": "adma"})
    with pytest.raises(ConfigError, match=r"training\.optimizer: expected one of: .*adam.*got 'adma' \(did you mean 'adam'\?\)"):
        load_config(write_config(tmp_path / "c.yaml", data))


def test_all_problems_are_listed_at_once_in_file_order(tmp_path):
    path = _cfg(tmp_path, "name: x\ndataset:\n  name: digits\n  test_splt: 0.2\nmodel:\n  architecture: cnn\n"
                "  dropout: 2\ntraining:\n  epochs: -1\n  batch_size: many\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert lines[0] == "4 problems in the config:"
    keys = [line.split(": ")[1] for line in lines[1:]]
    assert keys == ["dataset.test_splt", "model.dropout", "training.epochs", "training.batch_size"]
    assert "(did you mean 'test_split'?)" in lines[1]
    assert lines[1].strip().startswith(f"{path}:4:")


def test_missing_required_keys(tmp_path):
    path = _cfg(tmp_path, "name: x\ndataset:\n  name: npz\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "dataset.path: required key is missing" in str(err.value)
    assert "model: required key is missing" in str(err.value)


def test_a_sections_own_rule_is_its_message_without_the_whole_section(tmp_path):
    path = _cfg(tmp_path, "name: x\ndataset:\n  name: csv\n  label: y\nmodel:\n  architecture: mlp\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = next(ln for ln in str(err.value).splitlines() if "dataset" in ln)
    assert line.endswith("dataset: give either dataset.path (one file) or dataset.train_path (with optional "
                         "test_path)"), line  # not "..., got a mapping"


def test_missing_discriminator_lists_choices(tmp_path):
    path = _cfg(tmp_path, "dataset:\n  validation_split: 0.1\nmodel:\n  architecture: cnn\n")
    with pytest.raises(ConfigError, match=r"dataset\.name: required key is missing; expected one of: digits, mnist, npz"):
        load_config(path)


def test_missing_data_file_is_a_config_error(tmp_path):
    data = dict(TINY, dataset={"name": "npz", "path": "nope.npz"})
    with pytest.raises(ConfigError, match=r"dataset\.path: file not found: nope\.npz \(relative paths"):
        load_config(write_config(tmp_path / "c.yaml", data))


def test_invalid_yaml_reports_line_and_column(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml:2:\d+: invalid YAML"):
        load_config(_cfg(tmp_path, "name: x\n  bad: [\n"))


def test_duplicate_keys_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml:3: training\.epochs: duplicate key"):
        load_config(_cfg(tmp_path, "training:\n  epochs: 1\n  epochs: 2\n"))


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(_cfg(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    path = _cfg(tmp_path, "name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_set_overrides_parse_values_as_yaml(tiny_config):
    cfg = load_config(tiny_config, ["training.epochs=3", "model.filters=[16,32]", "training.optimizer=sgd"])
    assert cfg.training.epochs == 3
    assert cfg.model.filters == [16, 32]
    assert cfg.training.optimizer == "sgd"


def test_set_list_index_and_new_section(tiny_config):
    cfg = load_config(tiny_config, ["model.filters.0=4", "seed=3"])
    assert cfg.model.filters == [4] and cfg.seed == 3


def test_set_errors_name_the_override(tiny_config):
    with pytest.raises(ConfigError, match=r"--set training\.epochs: must be ≥ 1, got 0"):
        load_config(tiny_config, ["training.epochs=0"])
    with pytest.raises(ConfigError, match=r"--set training\.epoch: unknown key \(did you mean 'epochs'\?\)"):
        load_config(tiny_config, ["training.epoch=3"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(tiny_config, ["training.epochs"])


def test_dump_round_trips(tiny_config):
    cfg = load_config(tiny_config)
    again = config_from_dict(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_cli_config_show_validate_schema(tiny_config):
    runner = CliRunner()
    shown = runner.invoke(main, ["config", "show", str(tiny_config), "--set", "training.epochs=5"])
    assert shown.exit_code == 0, shown.output
    data = yaml.safe_load(shown.output)
    assert data["training"]["epochs"] == 5 and data["training"]["optimizer"] == "adam"

    ok = runner.invoke(main, ["config", "validate", str(tiny_config)])
    assert ok.exit_code == 0 and "valid" in ok.output

    bad = runner.invoke(main, ["config", "validate", str(tiny_config), "--set", "training.epochs=0"])
    assert bad.exit_code == 1
    assert "training.epochs: must be ≥ 1, got 0" in bad.output
    assert "Traceback" not in bad.output

    schema = runner.invoke(main, ["config", "schema"])
    assert schema.exit_code == 0
    parsed = json.loads(schema.output)
    assert "training" in parsed["properties"]
    assert parsed["additionalProperties"] is False
