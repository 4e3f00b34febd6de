"""params.yaml as types, checked once at the door.

The schema is the pydantic models below: every section forbids unknown keys, every value has a type
and bounds (`Field(ge=...)`, `Literal`), and the checks across keys are the models' validators. A
failure becomes one line per error that names the key and says what to do, e.g.

    params.yaml: `train.warmup_iter` is not a key; did you mean `warmup_iters`?

The `check` stage (src/check.py) runs these checks before any other stage touches its outputs; stages
call `load_params()` too (so a script run by hand stops on the same errors) and read typed values:
`params.train.token_budget`. Checking never changes a value, so no stage but `check` depends on this file:
editing a check re-runs nothing else. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
import os
import types
from pathlib import Path
from typing import Annotated, Literal, Optional, Union, get_args, get_origin

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from runlog import StageError

PARAMS_FILE = Path("params.yaml")
SCRATCH = "scratch"  # an init_from file with this name means: start from random weights

Count = Annotated[int, Field(ge=1)]
Natural = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Parts = Annotated[list[Count], Field(min_length=1, description="a non-empty list of dump part numbers (1, 2, ...) such as [1, 2, 3]")]
CheckpointPath = Annotated[str, Field(pattern=r"\S", description=f"a checkpoint path (or checkpoints/{SCRATCH})")]


class ParamsError(StageError, ValueError):
    """A value in params.yaml that the pipeline cannot use."""


def fail(message: str, key: str = "") -> PydanticCustomError:
    """A failed check across keys, for a validator to raise: `key` is relative to its section."""
    return PydanticCustomError("params", "{message}", {"message": message, "key": key})


def closest(name: str, choices) -> str | None:
    match = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return match[0] if match else None


class Section(BaseModel):
    # strict: a string is not a number, 1 is not true; frozen: stages read params, never write them
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Dump(Section):
    mirror: Annotated[str, Field(pattern=r"\S", description="a non-empty string (a URL or a folder)")]
    wiki: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="a wiki's database name such as \"enwiki\"")]
    # YAML reads 20251101 as a number: the date is a folder name, so a string
    date: Annotated[str, BeforeValidator(lambda v: str(v) if type(v) is int else v),
                    Field(pattern=r"^(\d{8}|latest)$", description="a dump date like \"20251101\" (or \"latest\")")]
    format: Literal["multistream", "single"]


class Data(Section):
    parts: Parts
    eval_parts: Parts
    eval_tokens: Count

    @field_validator("parts", "eval_parts")
    @classmethod
    def distinct(cls, parts: list[int]) -> list[int]:
        repeated = sorted({p for p in parts if parts.count(p) > 1})
        if repeated:
            raise fail(f"lists part(s) {repeated} more than once; list each part once")
        return parts

    @model_validator(mode="after")
    def evaluated_parts_are_selected(self) -> Data:
        missing = [p for p in self.eval_parts if p not in self.parts]
        if missing:
            raise fail(f"names part(s) {missing} that `data.parts` {self.parts} does not select; add them to "
                       "data.parts or evaluate on selected parts", "eval_parts")
        return self


class Extract(Section):
    min_chars: Natural


class Tokenize(Section):
    val_fraction: Annotated[float, Field(ge=0.0, le=0.5, allow_inf_nan=False)]


class Size(Section):
    """A size preset: the GPTConfig fields that set the model's shape (src/model.py)."""
    block_size: Count
    vocab_size: Annotated[int, Field(ge=50257)]  # GPT-2's tokens
    n_layer: Count
    n_head: Count
    n_embd: Count
    dropout: Annotated[float, Field(ge=0, lt=1)]
    bias: bool


class Switches(Section):
    """A recipe's GPTConfig switches (src/model.py)."""
    rope: bool
    qk_norm: bool
    relu2: bool
    zero_init_proj: bool
    tie_embeddings: bool
    logit_softcap: Rate  # 0 disables the cap


# train.model: any GPTConfig field of a preset or a recipe, with its type and bounds, over both
Overrides = create_model("Overrides", __base__=Section, **{
    name: (Optional[Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation], None)
    for name, info in {**Size.model_fields, **Switches.model_fields}.items()})


class AdamW(Section):
    kind: Literal["adamw"]  # its numbers are train's learning_rate, weight_decay, beta1, beta2


class Muon(Section):
    kind: Literal["muon"]
    matrix_lr: Rate
    momentum: Fraction
    embedding_lr: Rate
    head_lr: Rate
    scalar_lr: Rate
    adam_betas: Annotated[list[Fraction], Field(min_length=2, max_length=2, description="two numbers in [0, 1]")]
    weight_decay: Rate


class Recipe(Section):
    model: Switches
    optimizer: Annotated[Union[AdamW, Muon], Field(discriminator="kind")]


class Train(Section):
    recipe: str
    recipes: dict[str, Recipe]
    preset: str
    presets: dict[str, Size]
    # null or {} in params.yaml: no overrides
    model: Annotated[Overrides, BeforeValidator(lambda v: {} if v is None else v)]
    init_from: CheckpointPath
    seed: Natural
    token_budget: Count
    batch_size: Union[Literal["auto"], Count]
    grad_accum: Count
    sequences_per_step: Count
    nproc_per_node: Count
    nnodes: Count
    learning_rate: Rate
    min_lr: Rate
    warmup_iters: Natural
    weight_decay: Rate
    beta1: Fraction
    beta2: Fraction
    grad_clip: Rate  # 0 disables clipping
    log_interval: Count
    eval_interval: Count
    checkpoint_interval: Count
    device: Literal["auto", "cpu", "cuda", "mps"]
    dtype: Literal["auto", "float32", "bfloat16", "float16"]
    compile: Union[Literal["auto"], bool]

    @model_validator(mode="after")
    def consistent(self) -> Train:
        for key, table in (("recipe", self.recipes), ("preset", self.presets)):
            name = getattr(self, key)
            if name not in table:
                hint = f"; did you mean `{closest(name, table)}`?" if closest(name, table) else ""
                raise fail(f"must name one of train.{key}s {sorted(table)}, got {name!r}{hint}", key)
        if self.min_lr > self.learning_rate:
            raise fail(f"must be a number between 0.0 and train.learning_rate ({self.learning_rate}), "
                       f"got {self.min_lr!r}", "min_lr")
        # the micro-batches of a step are split evenly over the processes
        key = "sequences_per_step" if self.batch_size == "auto" else "grad_accum"
        if getattr(self, key) % self.processes:
            raise fail(f"({getattr(self, key)}) must be divisible by train.nproc_per_node * train.nnodes "
                       f"({self.processes}): each process runs an equal share", key)
        size = self.presets[self.preset]
        n_embd, n_head = self.model.n_embd or size.n_embd, self.model.n_head or size.n_head  # as overridden
        if n_embd % n_head:
            raise fail(f"({n_embd}) must be divisible by n_head ({n_head})", "model.n_embd")
        return self

    @property
    def processes(self) -> int:
        """Processes that share every step: nproc_per_node on each of nnodes."""
        return self.nproc_per_node * self.nnodes


class Evaluate(Section):
    batch_size: Count
    prompts: Annotated[list[Annotated[str, Field(min_length=1)]],
                       Field(min_length=1, description="a non-empty list of non-empty strings")]
    sample_tokens: Natural
    temperature: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    top_k: Count
    seed: Natural


class Resources(Section):
    processes: Natural  # 0: every core
    download_retries: Natural
    download_timeout_s: Annotated[float, Field(ge=1, allow_inf_nan=False)]
    disk_reserve_mb: Natural


class Params(Section):
    """params.yaml: one section per stage, in the file's order."""
    dump: Dump
    data: Data
    extract: Extract
    tokenize: Tokenize
    train: Train
    evaluate: Evaluate
    resources: Resources


KEYS = {name: tuple(info.annotation.model_fields) for name, info in Params.model_fields.items()}
SIZE_FIELDS, SWITCH_FIELDS = tuple(Size.model_fields), tuple(Switches.model_fields)
MODEL_FIELDS = SIZE_FIELDS + SWITCH_FIELDS  # model.GPTConfig's (tests/test_params.py checks they match)


# ---------------------------------------------------------------------------------------- messages

def _bounds(metadata) -> dict:
    """{"ge": 1, ...} from a field's constraints."""
    found = {}
    for item in metadata:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
        if hasattr(item, "metadata"):  # a FieldInfo inside Annotated
            found.update(_bounds(item.metadata))
    return found


def describe(annotation, metadata=(), description: str | None = None) -> str:
    """What a value of this type must be, in words: "an integer >= 1", "one of ['a', 'b']"."""
    if description:
        return description
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return describe(inner, (*metadata, *extra), next((m.description for m in extra if getattr(m, "description", None)),
                                                         None))
    b = _bounds(metadata)
    if get_origin(annotation) in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        if len(members) == 1:  # an override: None is its default, not a choice
            return describe(members[0], metadata)
        choices = [v for m in members if get_origin(m) is Literal for v in get_args(m)]
        choices += [True, False] if bool in members else []
        others = [describe(m) for m in members if get_origin(m) is not Literal and m is not bool]
        return " or ".join(others + [repr(c) for c in choices]) if others else f"one of {choices}"
    if get_origin(annotation) is Literal:
        return f"one of {list(get_args(annotation))}"
    if annotation is bool:
        return "true or false"
    if annotation is str:
        return "a string"
    if get_origin(annotation) is dict:
        return f"a mapping of names to {describe(get_args(annotation)[1])}"
    if annotation is int:
        return f"an integer >= {b['ge']}"
    if annotation is float:
        if "le" in b:
            return f"a number between {b['ge']} and {b['le']}"
        if "lt" in b:
            return f"a number in [{b['ge']}, {b['lt']})"
        return f"a number > {b['gt']}" if "gt" in b else f"a number >= {b['ge']}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"a mapping with the keys {list(annotation.model_fields)}"
    return f"a {getattr(annotation, '__name__', annotation)}"


def _walk(loc: tuple) -> tuple[list, tuple, type[BaseModel] | None]:
    """The keys a pydantic error's location names (a union's member tags left out), what the last of
    them must hold (annotation, metadata, description), and the model a key not in it was sought in."""
    keys, node, target = [], Params, (Params, (), None)
    for part in loc:
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
        if isinstance(node, type) and issubclass(node, BaseModel):
            if part not in node.model_fields:
                return keys, target, node
            info = node.model_fields[part]
            node, target = info.annotation, (info.annotation, info.metadata, info.description)
        elif get_origin(node) is dict:
            node = get_args(node)[1]
            target = (node, (), None)
        elif get_origin(node) is Union and part in _tags(node):  # a recipe's optimizer, by its kind
            node = _tags(node)[part]
            continue
        else:
            break  # a list's index, or a member of a union of values: the key itself is named
        keys.append(part)
    return keys, target, None


def _tags(union) -> dict:
    """A union of sections told apart by their `kind`: {kind: section}."""
    return {get_args(m.model_fields["kind"].annotation)[0]: m for m in get_args(union)
            if isinstance(m, type) and issubclass(m, BaseModel) and "kind" in m.model_fields}


def _value(raw, keys: list):
    for key in keys:
        raw = raw[key]
    return raw


def _explain(error: dict, raw: dict) -> tuple[str, str]:
    """(dotted key, what is wrong and what to do) for one pydantic error."""
    keys, (annotation, metadata, description), model = _walk(error["loc"])
    if error["type"] == "extra_forbidden":
        name, allowed = error["loc"][-1], list(model.model_fields)
        hint = (f"did you mean `{closest(name, allowed)}`?" if closest(name, allowed)
                else f"the keys here are {', '.join(allowed)}; remove it")
        return ".".join(map(str, [*keys, name])), f"is not a {'key' if keys else 'section'}; {hint}"
    key = ".".join(map(str, keys))
    if error["type"] == "missing":
        return key, "is missing; add it (params.yaml's comments say what it means)"
    if error["type"] == "params":
        key = ".".join(filter(None, [key, error["ctx"]["key"]]))
        return key, error["ctx"]["message"]
    if error["type"].startswith("union_tag"):  # a recipe's optimizer.kind
        got = error["ctx"].get("tag")
        return f"{key}.kind", f"must be one of {list(_tags(annotation))}, got {got!r}"
    return key, f"must be {describe(annotation, metadata, description)}, got {_value(raw, keys)!r}"


def messages(error: ValidationError, raw: dict) -> list[str]:
    """One line per wrong key. A key missing where a misspelt key stands is not reported: the typo is."""
    explained = [(e, *_explain(e, raw)) for e in error.errors()]
    typos = {(*e["loc"][:-1], closest(e["loc"][-1], _walk(e["loc"])[2].model_fields))
             for e, _, _ in explained if e["type"] == "extra_forbidden"}
    lines = {}
    for e, key, text in explained:
        if not (e["type"] == "missing" and tuple(e["loc"]) in typos):
            lines.setdefault(key, f"params.yaml: `{key}` {text}")  # a union's members: the first says it
    return list(lines.values())


def validate(raw: dict) -> Params:
    """params.yaml's contents as types; raises ParamsError with one line per wrong key."""
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError("\n".join(messages(error, raw))) from None


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; raises ParamsError (a StageError: one line per wrong key) when a
    value is unusable."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path} not found; run from the repository root") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of sections (dump, data, ...)")
    return validate(raw)


def process_count(params: Params) -> int:
    """Worker processes to use: `resources.processes`, 0 meaning every core this process may use."""
    if params.resources.processes:
        return params.resources.processes
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
