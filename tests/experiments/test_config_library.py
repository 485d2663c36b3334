"""``experiments.config_library``: alias config names (``CONFIG_ALIASES``) and paper spellings (``PAPER_ALIASES``)
name the same configs, plans and run folders as the current names."""
from __future__ import annotations

import json

import pytest

from experiments.config_library import (CONFIG_ALIASES, PAPER_ALIASES, canonical_config_name, canonical_paper_name,
                                        config_chain, config_names, locate_config, resolved_config)
from tracking.errors import DataError

SIAMFC_ONLINE = {
    "siamfc/imagenet_alexnet_online": "siamfc_online/imagenet_alexnet",
    "siamfc/imagenet_inception_v3_online": "siamfc_online/imagenet_inception_v3",
    "siamfc/imagenet_resnet34_online": "siamfc_online/imagenet_resnet34",
    "siamfc/imagenet_vgg19_online": "siamfc_online/imagenet_vgg19",
    "siamfc/demo_online": "siamfc_online/demo",
}


def test_siamfc_online_configs_have_one_name_and_their_other_names_as_aliases():
    assert CONFIG_ALIASES == SIAMFC_ONLINE
    names = set(config_names())
    assert set(CONFIG_ALIASES.values()) <= names  # every alias names a packaged config ...
    assert not set(CONFIG_ALIASES) & names  # ... and is not one itself
    assert not any(name.endswith("_online") for name in names)


@pytest.mark.parametrize("alias", sorted(SIAMFC_ONLINE))
def test_an_alias_locates_and_chains_the_same_files(alias):
    current = SIAMFC_ONLINE[alias]
    assert canonical_config_name(alias) == current and canonical_config_name(current) == current
    assert locate_config(alias) == locate_config(current)
    assert locate_config(alias)[0] == current  # the current name, e.g. for a run folder's run.json
    assert config_chain(alias) == config_chain(current)


def test_the_renamed_configs_start_from_the_offline_siamfc_configs():
    _, files = config_chain("siamfc_online/imagenet_vgg19")
    assert [f"{path.parent.name}/{path.stem}" for path in files] == [
        "siamfc/alexnet", "siamfc/imagenet_alexnet", "siamfc/imagenet_vgg19", "siamfc_online/imagenet_vgg19"]
    _, files = config_chain("siamfc_online/demo")
    assert [f"{path.parent.name}/{path.stem}" for path in files][-2:] == ["siamfc/demo", "siamfc_online/demo"]


@pytest.mark.parametrize("alias", ["siamfc/imagenet_alexnet_online", "siamfc/demo_online"])
def test_an_alias_resolves_to_the_same_config(alias):
    assert resolved_config(alias).as_dict() == resolved_config(SIAMFC_ONLINE[alias]).as_dict()


def test_an_unknown_name_is_still_refused():
    with pytest.raises(DataError, match="no packaged config named 'siamfc/imagenet_alexnet_offline'"):
        locate_config("siamfc/imagenet_alexnet_offline")


def test_paper_aliases():
    assert PAPER_ALIASES == {"siamfc-online": "siamfc_online"}
    assert canonical_paper_name("siamfc-online") == "siamfc_online"
    assert canonical_paper_name("siamfc_online") == "siamfc_online" and canonical_paper_name("mfst") == "mfst"


def test_a_run_folder_of_an_alias_name_is_the_same_run(tmp_path):
    from experiments.train import RUN_FILE, check_run_folder

    (tmp_path / RUN_FILE).write_text(json.dumps({"config": "siamfc/imagenet_alexnet_online"}))
    check_run_folder(tmp_path, "siamfc_online/imagenet_alexnet")  # accepted
    with pytest.raises(SystemExit, match="holds a run of config 'siamfc/imagenet_alexnet_online'"):
        check_run_folder(tmp_path, "siamfc/imagenet_alexnet")


def test_a_demo_folder_of_the_other_paper_spelling_is_the_same_demo(tmp_path):
    from experiments.demo import RUN_MARKER, check_run_folder

    recipe = {"quick": True, "seed": 0, "train_args": [], "settings": {}, "paper": "siamfc_online"}
    (tmp_path / RUN_MARKER).write_text(json.dumps({**recipe, "paper": "siamfc-online"}))
    check_run_folder(tmp_path, recipe)  # resumed
    with pytest.raises(SystemExit, match="paper differ"):
        check_run_folder(tmp_path, {**recipe, "paper": "siamfc"})
