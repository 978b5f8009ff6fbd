"""The transfer study's family registry: one entry per family says everything the study dispatches on."""

import pytest

from hf_culturemert.transfer.models import (FAMILIES, REGISTRY, build_tagger, chunk_length, family_of,
                                            feature_extractor, load_tagger, output_layer_prefix, save_tagger)

TAGS = ["a", "b", "c"]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_builds_saves_and_loads_through_its_registry_entry(family, tmp_path):
    model = build_tagger(family, TAGS, size="miniature")
    assert family_of(model) == family == REGISTRY[family].name
    assert model.config.model_type == REGISTRY[family].model_type
    assert model.config.id2label == dict(enumerate(TAGS))
    # the output layer the registry names exists and has one output per tag
    prefix = output_layer_prefix(model)
    outputs = {name: p for name, p in model.named_parameters() if name.startswith(prefix)}
    assert outputs and outputs[prefix + "weight"].shape[0] == len(TAGS)
    assert chunk_length(model) > 0
    extractor = feature_extractor(family, model.config)
    folder = save_tagger(model, extractor, tmp_path / family)
    loaded, loaded_extractor = load_tagger(folder)
    assert family_of(loaded) == family and type(loaded) is type(model)
    assert (loaded_extractor is None) == (family == "mert")
    assert chunk_length(loaded) == chunk_length(model)


def test_family_of_reads_the_config_not_the_class_name():
    class Impostor:  # a class named like a family, without its config
        pass

    Impostor.__name__ = "VGGishForSomethingElse"
    with pytest.raises(ValueError, match="Not a transfer-study model"):
        family_of(Impostor())


def test_a_folder_of_another_model_type_is_refused_by_name(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="'bert' is not a transfer-study family"):
        load_tagger(tmp_path)
