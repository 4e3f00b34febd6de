"""src/params.py: every key of every section is known, typed and in range; a typo is named as itself."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import TEST_PARAMS

from model import GPTConfig
from params import KEYS, MODEL_FIELDS, ParamsError, validate

GOOD = yaml.safe_load(TEST_PARAMS.read_text())


def check(edit) -> str:
    params = copy.deepcopy(GOOD)
    edit(params)
    with pytest.raises(ParamsError) as error:
        validate(params)
    return str(error.value)


def test_the_tests_params_are_valid_and_complete():
    assert validate(copy.deepcopy(GOOD)) is not None
    assert set(GOOD) == set(KEYS) and all(set(GOOD[s]) == set(KEYS[s]) for s in KEYS)


def test_params_knows_every_model_field():
    assert set(MODEL_FIELDS) == set(GPTConfig.__dataclass_fields__)


def test_an_extra_misspelt_key_is_refused_with_the_closest_valid_one():
    message = check(lambda p: p["train"].update(warmup_iter=10))
    assert message == "params.yaml: `train.warmup_iter` is not a key; did you mean `warmup_iters`?"


def test_a_misspelt_key_in_place_of_a_real_one_is_named_as_itself_not_as_the_real_one_missing():
    def rename(p):
        p["data"]["eval_token"] = p["data"].pop("eval_tokens")
    assert check(rename) == "params.yaml: `data.eval_token` is not a key; did you mean `eval_tokens`?"


def test_a_key_with_no_close_match_lists_the_section_keys():
    message = check(lambda p: p["extract"].update(colour="blue"))
    assert message == "params.yaml: `extract.colour` is not a key; the keys here are min_chars; remove it"


def test_a_missing_key_and_a_misspelt_section_are_named():
    assert "`tokenize.val_fraction` is missing" in check(lambda p: p["tokenize"].pop("val_fraction"))
    message = check(lambda p: p.update(trian=p.pop("train")))
    assert message == "params.yaml: `trian` is not a section; did you mean `train`?"


def test_model_fields_and_presets_are_checked_by_name():
    assert "`train.presets.tiny.n_embed` is not a key; did you mean `n_embd`?" in check(
        lambda p: p["train"]["presets"]["tiny"].update(n_embed=64))
    assert "`train.preset` must name one of train.presets ['gpt2-124m', 'tiny'], got 'tiyn'; did you mean `tiny`?" in \
        check(lambda p: p["train"].update(preset="tiyn"))


def test_the_recipe_is_named_with_did_you_mean_and_its_contents_checked():
    assert check(lambda p: p["train"].update(recipe="modrn")) == (
        "params.yaml: `train.recipe` must name one of train.recipes ['gpt2', 'modern'], got 'modrn'; "
        "did you mean `modern`?")
    assert "`train.recipes.modern.model.rop` is not a key; did you mean `rope`?" in check(
        lambda p: p["train"]["recipes"]["modern"]["model"].update(rop=True))
    assert "`train.recipes.modern.optimizer.matrix_lr` must be a number >= 0.0" in check(
        lambda p: p["train"]["recipes"]["modern"]["optimizer"].update(matrix_lr=-1))
    assert "`train.recipes.gpt2.optimizer.kind` must be one of ['adamw', 'muon']" in check(
        lambda p: p["train"]["recipes"]["gpt2"]["optimizer"].update(kind="sgd"))


def test_presets_hold_sizes_only_and_each_value_is_named_where_it_is_written():
    assert "`train.presets.tiny.rope` is not a key" in check(lambda p: p["train"]["presets"]["tiny"].update(rope=True))
    assert "`train.model.rope` must be true or false, got 1" in check(lambda p: p["train"].update(model={"rope": 1}))
    assert "`train.recipes.gpt2.model.logit_softcap` must be a number >= 0.0, got -1.0" in check(
        lambda p: p["train"]["recipes"]["gpt2"]["model"].update(logit_softcap=-1.0))
    assert "`train.presets.gpt2-124m.n_head` must be an integer >= 1, got 0" in check(  # a preset not in use
        lambda p: p["train"]["presets"]["gpt2-124m"].update(n_head=0))
    assert check(lambda p: p["train"].update(model={"n_head": 3})) == (
        "params.yaml: `train.model.n_embd` (128) must be divisible by n_head (3)")


def test_every_wrong_key_is_one_line_and_a_typo_hides_the_key_it_stands_for():
    def edit(p):
        p["data"]["parts"] = []
        p["train"]["warmup_iter"] = p["train"].pop("warmup_iters")
        p["evaluate"]["top_k"] = 0
        del p["resources"]["processes"]
    assert check(edit).splitlines() == [
        "params.yaml: `data.parts` must be a non-empty list of dump part numbers (1, 2, ...) such as [1, 2, 3], got []",
        "params.yaml: `train.warmup_iter` is not a key; did you mean `warmup_iters`?",
        "params.yaml: `evaluate.top_k` must be an integer >= 1, got 0",
        "params.yaml: `resources.processes` is missing; add it (params.yaml's comments say what it means)"]


def test_values_are_typed_and_strict():
    params = validate(copy.deepcopy(GOOD))
    assert params.train.token_budget == 131072 and params.train.recipes["modern"].optimizer.kind == "muon"
    assert params.dump.date == "20251101" and params.train.processes == 1
    numeric_date = copy.deepcopy(GOOD)
    numeric_date["dump"]["date"] = 20251101  # as YAML reads an unquoted date
    assert validate(numeric_date).dump.date == "20251101"
    assert "`train.compile` must be one of ['auto', True, False], got 1" in check(
        lambda p: p["train"].update(compile=1))  # 1 is not true
    assert "`tokenize.val_fraction` must be a number between 0.0 and 0.5, got '0.2'" in check(
        lambda p: p["tokenize"].update(val_fraction="0.2"))  # a string is not a number
    assert "`train.recipes.gpt2.optimizer.kind` must be one of ['adamw', 'muon'], got 'sgd'" in check(
        lambda p: p["train"]["recipes"]["gpt2"]["optimizer"].update(kind="sgd"))
