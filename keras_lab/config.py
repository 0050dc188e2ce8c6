"""A training run's settings: one dataclass, the source of every flag's name, default and help.

Pure Python (no TensorFlow): ``python -m keras_lab.train --help`` and the checks of single
values answer before the slow import. The command line is generated from the fields
(:func:`keras_lab._cli.add_flags`): a field ``batch_size`` is the flag ``--batch-size``, a
bool field is ``--name`` / ``--no-name``, and the help is the field's ``help``.

The vocabulary of the settings (the lecture's variants, the schedules, data sets,
strategies) lives here too, as the one list every module checks against.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from keras_lab import checks
from keras_lab.lecture.gd import SCHEDULES, VARIANTS, variant_batch_size  # noqa: F401

#: Training sets: the lecture's 9 points, the sine set, 2-D blobs, scikit-learn's bundled sets.
DATASETS: tuple[str, ...] = ("lecture", "sine", "classes", "diabetes", "breast_cancer", "digits")
#: The real data sets among them (scikit-learn's bundled files) and their problem types.
REAL_DATASETS: dict[str, str] = {
    "diabetes": "regression",
    "breast_cancer": "binary",
    "digits": "multiclass",
}
#: Starting weights: the worked example's, or seeded random ones.
INITS: tuple[str, ...] = ("lecture", "random")
#: The values of --strategy.
STRATEGIES: tuple[str, ...] = ("none", "mirrored", "multiworker")
#: Floating-point types of a run.
DTYPES: tuple[str, ...] = ("float32", "float64")


def setting(
    default: Any,
    help: str,
    group: str = "",
    choices: tuple = (),
    flag: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
) -> Any:
    """A settings field with its flag's help and group, and what :func:`check_settings`
    checks: its choices, or its bounds (``strict``: a number > minimum). ``flag``: a flag
    name other than the field's."""
    metadata = {"help": help, "group": group, "choices": choices, "flag": flag}
    metadata.update(minimum=minimum, maximum=maximum, strict=strict)
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=metadata)
    return field(default=default, metadata=metadata)


#: --workers at most: each worker is a process that loads TensorFlow (0.78 GB peak resident
#: after `import_tensorflow`, ru_maxrss on the project's machine), so 16 need about 13 GB.
MAX_WORKERS = 16

#: --epochs at most: the run keeps 3 float64 numbers an epoch in memory (callbacks.History),
#: 240 MB at most.
MAX_EPOCHS = 10_000_000

GD, PROBLEM, DEVICES, OUTPUTS = (
    "gradient descent",
    "problem and model",
    "devices, machines and data on disk (docs/distribute.md)",
    "outputs",
)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run. The defaults are the lecture's experiment."""

    # ---------------------------------------------------------------- gradient descent
    variant: str = setting(
        "sgd", "batch: all samples per update; sgd: one; minibatch: --batch-size", GD, VARIANTS
    )
    batch_size: int | None = setting(
        None, "mini-batch size; none means 32 (at most the data size)", GD
    )
    loss: str = setting("mse", "any custom_losses name (mse, mae, huber, bce, ...)", GD)
    from_logits: bool = setting(False, "classification losses on a linear (logit) output", GD)
    lr: float = setting(
        0.3, "learning rate alpha (eta_0); 0.3 is the lecture listing's", GD, minimum=0, strict=True
    )
    lr_schedule: str = setting(
        "constant", "constant, or decay per update as keras.optimizers.schedules", GD, SCHEDULES
    )
    decay_rate: float = setting(0.5, "schedule decay rate", GD, minimum=0, strict=True)
    decay_steps: int = setting(1000, "schedule decay steps (updates)", GD, minimum=1)
    epochs: int = setting(2000, "passes over the data", GD, minimum=1, maximum=MAX_EPOCHS)
    seed: int = setting(
        0, "one seed for the start, the data and the shuffling", GD, minimum=0, maximum=2**63 - 1
    )
    shuffle: bool = setting(
        True, "reshuffle every epoch (the lecture's prose); --no-shuffle: in order", GD
    )
    drop_remainder: bool = setting(False, "drop each epoch's last, smaller batch", GD)
    # ---------------------------------------------------------------- problem and model
    dataset: str = setting(
        "lecture",
        "lecture: its 9 points; sine: --samples from g(p) = 1 + sin(pi p/4); "
        "classes: 2-D blobs, --classes K; diabetes (regression), breast_cancer (binary), "
        "digits (10 classes): scikit-learn's bundled sets, a seeded 75/25 train/test split",
        PROBLEM,
        DATASETS,
    )
    samples: int = setting(1000, "size of the sine and classes sets", PROBLEM, minimum=1)
    noise: float = setting(
        0.0, "sine: target noise std; classes: blob std (0 -> 0.5)", PROBLEM, minimum=0
    )
    classes: int = setting(2, "classes: number of classes K", PROBLEM, minimum=2)
    init: str = setting(
        "random", "lecture: the worked example's weights; random: seeded uniform", PROBLEM, INITS
    )
    hidden: tuple[int, ...] = setting(
        (2,), "hidden layer sizes, e.g. 2 or 64,64 (2: the lecture's 1-2-1)", PROBLEM
    )
    activation: str = setting("sigmoid", "activation of the hidden layers", PROBLEM)
    dtype: str = setting("float32", "floating-point type of weights and data", PROBLEM, DTYPES)
    # ---------------------------------------------------------------- devices and data
    strategy: str = setting(
        "none",
        "tf.distribute for the loop: mirrored (--devices on this machine) or multiworker "
        "(TF_CONFIG, or --workers local processes)",
        DEVICES,
        STRATEGIES,
    )
    devices: int = setting(
        1, "mirrored: logical CPU devices to split the CPU into", DEVICES, minimum=1
    )
    workers: int = setting(
        1,
        "multiworker without TF_CONFIG: worker processes to start on 127.0.0.1 (at most "
        f"{MAX_WORKERS}: each loads TensorFlow, 0.8 GB)",
        DEVICES,
        minimum=1,
        maximum=MAX_WORKERS,
    )
    data: str = setting(
        "",
        "train from the TFRecord shards in this directory (python -m keras_lab.stream write), "
        "streamed through tf.data instead of held in memory",
        DEVICES,
    )
    jit: bool = setting(
        True,
        "compile with XLA: the whole loop on one device; under --strategy or --data, each "
        "replica's forward and backward pass",
        DEVICES,
    )
    # ---------------------------------------------------------------- outputs
    logdir: str = setting("", "run directory (default runs/<time>-<variant>-<pid>)", OUTPUTS)
    tensorboard: bool = setting(True, "write TensorBoard events", OUTPUTS)
    plots: bool = setting(True, "write loss.png and fit.png", OUTPUTS)
    checkpoint_every: int = setting(
        0, "epochs between checkpoints (0: only at the start and the end)", OUTPUTS, minimum=0
    )

    def __post_init__(self) -> None:
        check_values(self)  # every config is checked once, when made

    def to_json(self) -> dict:
        """The settings as a JSON object (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_json(cls, values: object, source: str = "config") -> TrainConfig:
        """The config saved by :meth:`to_json`; ValueError naming ``source`` if it is not one."""
        if not isinstance(values, dict):
            raise ValueError(f"{source}: expected a JSON object, got {json.dumps(values)[:40]}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"{source}: unknown settings {sorted(unknown)}")
        values = dict(values)
        if isinstance(values.get("hidden"), list):
            values["hidden"] = tuple(values["hidden"])
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def check_settings(settings: object) -> None:
    """Check each field of a settings dataclass on its own, as its :func:`setting` says
    (choices, type, bounds); ValueError naming the field as its flag does (batch-size)."""
    for item in dataclasses.fields(settings):
        meta, value = item.metadata, getattr(settings, item.name)
        name, choices = item.name.replace("_", "-"), meta.get("choices")
        low, high = meta.get("minimum"), meta.get("maximum")
        if choices and item.type == "tuple[str, ...]":
            checks.require(
                bool(value) and set(value) <= set(choices),
                f"{name} must be some of {choices}, got {value!r}",
            )
        elif choices:
            checks.one_of(item.name.replace("_", " "), value, choices)
        elif item.type == "bool":
            checks.require(isinstance(value, bool), f"{name} must be true or false, got {value!r}")
        elif item.type == "str":
            checks.require(isinstance(value, str), f"{name} must be a string, got {value!r}")
        elif item.type.startswith("int") and value is not None:
            checks.integer(name, value, low, high)
        elif item.type == "float" and high is not None:
            checks.require(
                isinstance(value, (int, float)) and low <= value <= high,
                f"{name} must be a number in [{low}, {high}], got {value!r}",
            )
        elif item.type == "float":
            checks.number(name, value, -math.inf if low is None else low, meta.get("strict"))


def check_values(config: TrainConfig) -> None:
    """Check each setting on its own; the checks that need TensorFlow or Keras (loss and
    activation names, the data on disk, combinations) are :func:`keras_lab.problem.validate`'s.
    """
    check_settings(config)  # batch-size's range: problem.validate
    if not isinstance(config.hidden, tuple) or not config.hidden:
        raise ValueError(f"hidden layer sizes must be a list of integers, got {config.hidden!r}")
    for size in config.hidden:
        checks.integer("hidden layer sizes", size, minimum=1)


def check_given(config: TrainConfig, given: Collection[str]) -> None:
    """Refuse a flag that was given (``given``: field names) but would have no effect, so
    that nothing the user asked for is silently ignored; ValueError names the flag."""

    def refuse(name: str, reason: str) -> None:
        if name in given:
            flag = "--" + name.replace("_", "-")
            value = getattr(config, name)
            shown = "" if value is True else f" {_shown(value)}"  # a switch: its flag alone
            raise ValueError(f"{flag}{shown} {reason}")

    if config.data:
        for name in ("samples", "noise"):
            refuse(name, f"conflicts with --data (the data's {name} come from its manifest)")
        if config.dataset != "sine":
            refuse("dataset", "conflicts with --data (it holds the sine set)")
    elif config.dataset == "lecture" or config.dataset in REAL_DATASETS:
        for name in ("samples", "noise"):
            refuse(name, f"has no effect with --dataset {config.dataset} (a fixed data set)")
    if config.dataset != "classes":
        refuse("classes", "needs --dataset classes")
    if config.strategy != "mirrored":
        refuse("devices", "needs --strategy mirrored")
    if config.strategy != "multiworker":
        refuse("workers", "needs --strategy multiworker")
    # a user's TF_CONFIG, not one of the workers --workers started (they have a scratch
    # folder, engine.workers.SCRATCH_ENV, and the launcher's flags)
    if os.environ.get("TF_CONFIG") and not os.environ.get("KERAS_LAB_WORKER_SCRATCH"):
        refuse("workers", "conflicts with TF_CONFIG (its cluster sets the workers)")
    if config.variant != "minibatch" and config.drop_remainder:
        refuse("drop_remainder", f"has no effect with --variant {config.variant} (no remainder)")
    if config.lr_schedule == "constant":
        for name in ("decay_rate", "decay_steps"):
            refuse(name, "needs --lr-schedule exponential or inverse_time")


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
