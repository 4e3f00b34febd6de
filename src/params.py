"""Load params.yaml and check it once, at the door.

Every key of every section is checked here, unknown keys included ("`train.warmup_iter` is not a key;
did you mean `warmup_iters`?"), with an error that names the key and says what to do. The `check` stage
(src/check.py) runs these checks before any other stage touches its outputs; stages call `load_params()`
too, so a script run by hand stops on the same errors. Checking never changes a value, so no stage but
`check` depends on this file: editing a check re-runs nothing else.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path

import yaml

from runlog import StageError

PARAMS_FILE = Path("params.yaml")
# The fields of model.GPTConfig (tests/test_params.py checks they match): listed here so that checking
# params never imports torch.
# A size preset holds SIZE_FIELDS, a recipe's `model` SWITCH_FIELDS.
SIZE_FIELDS = ("block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias")
SWITCH_FIELDS = ("rope", "qk_norm", "relu2", "zero_init_proj", "tie_embeddings", "logit_softcap")
MODEL_FIELDS = SIZE_FIELDS + SWITCH_FIELDS
# The keys of a recipe's `optimizer`, by kind (src/optim.py configure_optimizers reads them).
OPTIMIZER_KEYS = {"adamw": ("kind",),
                  "muon": ("kind", "matrix_lr", "momentum", "embedding_lr", "head_lr", "scalar_lr",
                           "adam_betas", "weight_decay")}
SCRATCH = "scratch"  # an init_from file with this name means: start from random weights

# The keys of each section. A key in params.yaml that is not here is a typo or a leftover: refused.
KEYS = {
    "dump": ("mirror", "wiki", "date", "format"),
    "data": ("parts", "eval_parts", "eval_tokens"),
    "extract": ("min_chars",),
    "tokenize": ("val_fraction",),
    "train": ("recipe", "recipes", "preset", "presets", "model", "init_from", "seed", "token_budget", "batch_size",
              "grad_accum", "sequences_per_step", "nproc_per_node", "nnodes", "learning_rate", "min_lr", "warmup_iters",
              "weight_decay", "beta1", "beta2", "grad_clip", "log_interval", "eval_interval", "checkpoint_interval", "device", "dtype",
              "compile"),
    "evaluate": ("batch_size", "prompts", "sample_tokens", "temperature", "top_k", "seed"),
    "resources": ("processes", "download_retries", "download_timeout_s", "disk_reserve_mb"),
}


class ParamsError(StageError, ValueError):
    """A value in params.yaml that the pipeline cannot use."""


def _fail(key: str, message: str) -> None:
    raise ParamsError(f"params.yaml: `{key}` {message}")


def check_keys(node, where: str, allowed) -> None:
    """`node` is a mapping with exactly the keys `allowed`: an unknown key is named with the closest
    valid one (so a typo is reported as itself, not as the real key "missing"), then a missing key."""
    if not isinstance(node, dict):
        _fail(where, f"must be a mapping with the keys {list(allowed)}, got {node!r}")
    prefix = f"{where}." if where else ""
    for key in node:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"the keys here are {', '.join(allowed)}; remove it"
            _fail(f"{prefix}{key}", f"is not a {'key' if where else 'section'}; {hint}")
    for key in allowed:
        if key not in node:
            _fail(f"{prefix}{key}", "is missing; add it (params.yaml's comments say what it means)")


def _get(params: dict, dotted: str):
    node = params
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            _fail(dotted, "is missing; add it (params.yaml's comments say what it means)")
        node = node[name]
    return node


def _check_int(params: dict, key: str, minimum: int) -> None:
    value = _get(params, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, f"must be an integer >= {minimum}, got {value!r}")


def _check_number(params: dict, key: str, low: float, high: float | None = None) -> float:
    value = _get(params, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
        value < low or (high is not None and value > high)
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        _fail(key, f"must be a number {bound}, got {value!r}")
    return float(value)


def _check_choice(params: dict, key: str, allowed: tuple) -> None:
    value = _get(params, key)
    # `True in (1,)` holds in Python: compare types too, so `compile: 1` is not taken for `true`
    if not any(value == choice and type(value) is type(choice) for choice in allowed):
        _fail(key, f"must be one of {list(allowed)}, got {value!r}")


def check_parts(params: dict, key: str) -> list[int]:
    """A non-empty list of distinct positive part numbers."""
    parts = _get(params, key)
    if not isinstance(parts, list) or not parts:
        _fail(key, f"must be a non-empty list of dump part numbers such as [1, 2, 3], got {parts!r}")
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int) or part < 1:
            _fail(key, f"must hold positive integers (dump part numbers), got {part!r}")
    duplicates = sorted({p for p in parts if parts.count(p) > 1})
    if duplicates:
        _fail(key, f"lists part(s) {duplicates} more than once; list each part once")
    return parts


def check_dump(params: dict) -> None:
    check_keys(params["dump"], "dump", KEYS["dump"])
    value = _get(params, "dump.mirror")
    if not isinstance(value, str) or not value.strip():
        _fail("dump.mirror", f"must be a non-empty string, got {value!r}")
    wiki = _get(params, "dump.wiki")
    # A wiki's database name (enwiki, zh_yuewiki): it becomes a folder of the mirror's URL, so no paths.
    if not isinstance(wiki, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", wiki):
        _fail("dump.wiki", f"must be a wiki's database name such as \"enwiki\", got {wiki!r}")
    date = str(_get(params, "dump.date"))
    if not (date.isdigit() and len(date) == 8) and date != "latest":
        _fail("dump.date", f"must be a dump date like \"20251101\" (or \"latest\"), got {date!r}")
    _check_choice(params, "dump.format", ("multistream", "single"))


def check_data(params: dict) -> None:
    check_keys(params["data"], "data", KEYS["data"])
    parts = check_parts(params, "data.parts")
    eval_parts = check_parts(params, "data.eval_parts")
    _check_int(params, "data.eval_tokens", 1)
    missing = [p for p in eval_parts if p not in parts]
    if missing:
        _fail("data.eval_parts", f"names part(s) {missing} that `data.parts` {parts} does not select; "
              "add them to data.parts or evaluate on selected parts")


def check_extract(params: dict) -> None:
    check_keys(params["extract"], "extract", KEYS["extract"])
    _check_int(params, "extract.min_chars", 0)


def check_tokenize(params: dict) -> None:
    check_keys(params["tokenize"], "tokenize", KEYS["tokenize"])
    _check_number(params, "tokenize.val_fraction", 0.0, 0.5)


def check_resources(params: dict) -> None:
    check_keys(params["resources"], "resources", KEYS["resources"])
    _check_int(params, "resources.processes", 0)
    _check_int(params, "resources.download_retries", 0)
    _check_number(params, "resources.download_timeout_s", 1)
    _check_int(params, "resources.disk_reserve_mb", 0)


def _named(params: dict, key: str, table_key: str) -> dict:
    """The entry of the mapping `table_key` that `key` names, with a did-you-mean for a typo."""
    table = _get(params, table_key)
    name = _get(params, key)
    if not isinstance(table, dict) or not isinstance(name, str) or name not in table:
        close = difflib.get_close_matches(str(name), [str(n) for n in table or {}], n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        _fail(key, f"must name one of {table_key} {sorted(table or {})}, got {name!r}{hint}")
    return table[name]


def check_recipes(params: dict) -> dict:
    """train.recipes (each a `model` of every switch and an `optimizer`); returns train.recipe's."""
    recipe = _named(params, "train.recipe", "train.recipes")
    for name, body in params["train"]["recipes"].items():
        where = f"train.recipes.{name}"
        check_keys(body, where, ("model", "optimizer"))
        check_keys(body["model"], f"{where}.model", SWITCH_FIELDS)
        opt = body["optimizer"]
        if not isinstance(opt, dict) or opt.get("kind") not in OPTIMIZER_KEYS:
            _fail(f"{where}.optimizer.kind", f"must be one of {list(OPTIMIZER_KEYS)}, got "
                  f"{opt.get('kind') if isinstance(opt, dict) else opt!r}")
        check_keys(opt, f"{where}.optimizer", OPTIMIZER_KEYS[opt["kind"]])
        if opt["kind"] == "muon":
            for key in ("matrix_lr", "embedding_lr", "head_lr", "scalar_lr", "weight_decay"):
                _check_number(params, f"{where}.optimizer.{key}", 0.0)
            _check_number(params, f"{where}.optimizer.momentum", 0.0, 1.0)
            betas = opt["adam_betas"]
            if not (isinstance(betas, list) and len(betas) == 2 and all(
                    not isinstance(b, bool) and isinstance(b, (int, float)) and 0.0 <= b <= 1.0 for b in betas)):
                _fail(f"{where}.optimizer.adam_betas", f"must be two numbers in [0, 1], got {betas!r}")
    return recipe


def check_model_args(params: dict) -> dict:
    """train.presets[train.preset], then the recipe's switches, then train.model's overrides, checked;
    the GPTConfig fields."""
    size = _named(params, "train.preset", "train.presets")
    for name, fields in params["train"]["presets"].items():
        check_keys(fields, f"train.presets.{name}", SIZE_FIELDS)
    recipe = check_recipes(params)
    overrides = _get(params, "train.model")
    overrides = {} if overrides is None else overrides
    if not isinstance(overrides, dict):
        _fail("train.model", f"must be a mapping of model fields to override, got {overrides!r}")
    args = {**size, **recipe["model"], **overrides}  # as src/optim.py recipe_model_args merges them
    check_keys(args, "train.model", MODEL_FIELDS)
    where = {"train": {"model": args}}  # the merged fields, checked under the key a user edits
    for key in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
        _check_int(where, f"train.model.{key}", 1)
    if args["vocab_size"] < 50257:
        _fail("train.model.vocab_size", f"must hold GPT-2's 50257 tokens, got {args['vocab_size']}")
    if args["n_embd"] % args["n_head"]:
        _fail("train.model.n_embd", f"({args['n_embd']}) must be divisible by n_head ({args['n_head']})")
    dropout = args["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        _fail("train.model.dropout", f"must be a number in [0, 1), got {dropout!r}")
    for key in ("bias", "rope", "qk_norm", "relu2", "zero_init_proj", "tie_embeddings"):
        if not isinstance(args[key], bool):
            _fail(f"train.model.{key}", f"must be true or false, got {args[key]!r}")
    _check_number(where, "train.model.logit_softcap", 0.0)  # 0 disables the cap
    return args


def check_train(params: dict) -> None:
    check_keys(params["train"], "train", KEYS["train"])
    for key in ("grad_accum", "sequences_per_step", "log_interval", "eval_interval", "checkpoint_interval",
                "token_budget", "nproc_per_node", "nnodes"):
        _check_int(params, f"train.{key}", 1)
    if _get(params, "train.batch_size") != "auto":
        _check_int(params, "train.batch_size", 1)
    processes = params["train"]["nproc_per_node"] * params["train"]["nnodes"]
    # the micro-batches of a step are split evenly over the processes
    if params["train"]["batch_size"] == "auto" and params["train"]["sequences_per_step"] % processes:
        _fail("train.sequences_per_step", f"({params['train']['sequences_per_step']}) must be divisible by "
              f"train.nproc_per_node * train.nnodes ({processes})")
    if params["train"]["batch_size"] != "auto" and params["train"]["grad_accum"] % processes:
        _fail("train.grad_accum", f"({params['train']['grad_accum']}) must be divisible by "
              f"train.nproc_per_node * train.nnodes ({processes}): each process runs an equal share")
    _check_int(params, "train.warmup_iters", 0)
    _check_int(params, "train.seed", 0)
    lr = _check_number(params, "train.learning_rate", 0.0)
    _check_number(params, "train.min_lr", 0.0, lr)
    _check_number(params, "train.weight_decay", 0.0)
    _check_number(params, "train.beta1", 0.0, 1.0)
    _check_number(params, "train.beta2", 0.0, 1.0)
    _check_number(params, "train.grad_clip", 0.0)  # 0 disables clipping
    _check_choice(params, "train.device", ("auto", "cpu", "cuda", "mps"))
    _check_choice(params, "train.dtype", ("auto", "float32", "bfloat16", "float16"))
    _check_choice(params, "train.compile", ("auto", True, False))
    init_from = _get(params, "train.init_from")
    if not isinstance(init_from, str) or not init_from.strip():
        _fail("train.init_from", f"must be a checkpoint path (or checkpoints/{SCRATCH}), got {init_from!r}")
    check_model_args(params)


def check_evaluate(params: dict) -> None:
    check_keys(params["evaluate"], "evaluate", KEYS["evaluate"])
    for key, minimum in (("batch_size", 1), ("sample_tokens", 0), ("top_k", 1), ("seed", 0)):
        _check_int(params, f"evaluate.{key}", minimum)
    temperature = _get(params, "evaluate.temperature")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        math.isfinite(temperature) and temperature > 0
    ):
        _fail("evaluate.temperature", f"must be a number > 0, got {temperature!r}")
    prompts = _get(params, "evaluate.prompts")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(s, str) and s for s in prompts):
        _fail("evaluate.prompts", f"must be a non-empty list of non-empty strings, got {prompts!r}")


CHECKS = {"dump": check_dump, "data": check_data, "extract": check_extract, "tokenize": check_tokenize,
          "train": check_train, "evaluate": check_evaluate, "resources": check_resources}


def validate(params: dict) -> dict:
    """Check every section, in params.yaml's order; returns `params` unchanged."""
    check_keys(params, "", KEYS)
    for section in KEYS:
        CHECKS[section](params)
    return params


def load_params(path: Path | str = PARAMS_FILE) -> dict:
    """Read and validate params.yaml; raises ParamsError (a StageError: one line, naming the key) when a
    value is unusable."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path} not found; run from the repository root") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path} must be a mapping of sections (dump, data, ...)")
    validate(params)
    params["dump"]["date"] = str(params["dump"]["date"])
    return params


def process_count(params: dict) -> int:
    """Worker processes to use: `resources.processes`, 0 meaning every core this process may use."""
    wanted = params["resources"]["processes"]
    if wanted:
        return wanted
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
