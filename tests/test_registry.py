"""Registries and the config schema agree, and unknown names are explained."""

from __future__ import annotations

import pytest

from aimodel.config.loader import union_variants
from aimodel.config.schema import Config
from aimodel.data import DATASETS
from aimodel.errors import AimodelError
from aimodel.models import factory  # noqa: F401  (registers builders)
from aimodel.models.registry import ARCHITECTURES
from aimodel.registry import Registry


def test_every_dataset_has_a_config_variant_and_vice_versa():
    variants = union_variants(Config.model_fields["dataset"].annotation, "name")
    assert sorted(variants) == DATASETS.names()


def test_every_architecture_has_a_config_variant_and_vice_versa():
    variants = union_variants(Config.model_fields["model"].annotation, "architecture")
    assert sorted(variants) == ARCHITECTURES.names()


def test_registering_twice_is_an_error():
    reg = Registry("thing")
    reg.register("a")(object())
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(object())


def test_unknown_name_suggests_and_lists():
    reg = Registry("thing")
    reg.register("alpha")(1)
    reg.register("beta")(2)
    with pytest.raises(AimodelError, match=r"unknown thing 'alpah' \(did you mean 'alpha'\?\); known: alpha, beta"):
        reg.get("alpah")
