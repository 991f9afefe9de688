"""docs/config.md is generated from the schema and must match it."""

from __future__ import annotations

from click.testing import CliRunner

from aimodel.cli import main
from aimodel.config.reference import config_reference
from tests.conftest import ROOT


def test_docs_config_md_is_current():
    committed = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == config_reference(), "docs/config.md is stale: run `aimodel config reference > docs/config.md`"


def test_reference_lists_every_key_of_every_variant():
    from aimodel.config.loader import union_variants, unwrap_optional
    from aimodel.config.schema import Config

    text = config_reference()
    for section, key in (("dataset", "name"), ("model", "architecture")):
        variants = union_variants(unwrap_optional(Config.model_fields[section].annotation), key)
        assert len(variants) >= 4
        for tag, cls in variants.items():
            assert f"`{section}.{key}: {tag}`" in text
            for field in cls.model_fields:
                if field != key:
                    assert f"`{section}.{field}`" in text, (tag, field)
    assert "`training.early_stopping.patience`" in text and "`training.lr_schedule.warmup_epochs`" in text


def test_cli_prints_the_reference():
    result = CliRunner().invoke(main, ["config", "reference"])
    assert result.exit_code == 0 and result.output == config_reference()
