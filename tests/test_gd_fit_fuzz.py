"""Seeded differential fuzzer: keras_lab.engine.loop.GradientDescent against keras.Model.fit.

Oracle: Keras's own training loop, ``keras.Model.fit`` with ``keras.optimizers.SGD`` (no
momentum), in the Keras installed: its version (``keras.version()``, KERAS) is read at run
time and named in every failure message. Written against Keras 3.15.1 on TensorFlow 2.21.

One generator, ``np.random.default_rng(FUZZ_SEED)`` (FUZZ_SEED = 20260611; the environment
variables GD_FIT_FUZZ_SEED and GD_FIT_FUZZ_CASES run other or more cases), draws NUM_CASES
configurations, as many of each (dtype, our jit_compile) pair: float32 or float64, and
jit_compile False or True. Each draws samples n (1-40), input features (1-3), 1-2 hidden
layers of width 1-8, each with one of HIDDEN_ACTIVATIONS, a loss (LOSSES: mse, mae, huber,
log_cosh, MSLE and Poisson with positive outputs, binary and categorical crossentropy on
probabilities or logits, KL divergence, hinge, squared hinge) with outputs (1-3) and
targets valid for it, its reduction (REDUCTIONS: a mean, or a sum), batch size 1..n (ragged
last batches), epochs 1-30 (at most MAX_UPDATES updates), a learning rate k/64, a schedule
(constant, or keras.optimizers.schedules' ExponentialDecay and InverseTimeDecay) with its
decay rate and steps, fit's input (a tf.data.Dataset of the batches, with drop_remainder
for our drop_remainder, or numpy arrays with shuffle=False) and fit's jit_compile (False, or
True, its "auto" on this CPU; on a Dataset only), and on our side gd.run(E) in 1-3 calls
and compiled chunks of all epochs or of 1-3 (batches.ORDER_ENTRIES cut as in test_gd). Both
sides start from one drawn set of weights (biases too), visit the samples in order (fit
cannot shuffle in our order) and train for the same epochs.

What is made equal by construction, and why:
- the data are exact in float32: model.fit (Keras 3.15.1) casts float64 numpy data to
  floatx (float32), so a float64 model trained by fit on numpy arrays sees them rounded
  (test_float64_data_not_exact_in_float32_equal_what_fit_trains_on);
- the losses are Loss objects of the model's dtype (Loss.__call__ casts y_pred to its own
  dtype, float32 by default: tests/test_gd.py::mse64);
- the learning rate is exact in float32, the dtype of Keras's learning-rate variable (k/64,
  or k/64 over a power of 2 >= the batch size for a summed loss, whose gradient is larger);
- a float64 schedule gets numpy float64 numbers on Keras's side: Keras computes a schedule in
  the dtype of its initial rate and casts decay_rate with ops.cast, which makes a Python
  float a float32 tensor first (0.9 -> 0.89999997615814...) in Keras 3.15.1, while ours
  computes in the model's dtype from the number given
  (test_float64_schedules_equal_the_formula_and_keras_given_float64_numbers).

Assertions and tolerances (observed: this machine, over FUZZ_SEED's cases and 300 cases of
seeds 1-3, all passing but one divergence, see below):
- final weights, as max |ours - fit| / (1 + |fit|) over every weight (relative for large
  weights, absolute for small ones):
  float64: WEIGHTS["float64"] = 1e-10; observed <= 3.4e-16 (1.5 ulps of 1), in every mode on
  either side. Both sides do the same float64 arithmetic up to the order of a few sums and
  fusions (XLA or not), so the bound leaves a million times the room seen and still catches
  a single float32 rounding anywhere on one side: the two above moved the weights by 1.9e-9
  and 2.7e-8.
  float32: WEIGHTS["float32"] = 1e-5; observed <= 1.9e-7 (3.4e-7 in earlier drafts of the
  generator, ~500 cases). XLA:CPU and TensorFlow's kernels differ by an ulp or so per op
  (fused multiply-adds, their exp/tanh/softplus approximations, summation order), every step
  carries the differences along the trajectory; without XLA on either side they still differ
  at times (1e-8), the two graphs not being the same ops (ours: a while loop on one flat
  weight vector). 1e-5 is ~30x the largest difference seen.
- the weights moved (fit's from the start) by more than 1000x their difference, so the
  agreement is not two copies of the start; observed difference/movement <= 4.4e-6.
- the per-epoch losses, ``gd.run(E).loss`` against ``fit.history["loss"]``: fit's is a
  float32 Mean of the batch losses weighted by batch size (its loss tracker), so rtol
  LOSS_RTOL = 1e-5 (a float32 sum of up to 40 batch losses: <= 40 * 2**-24 = 2.4e-6
  relative), plus an atol of LOSS_ATOL[dtype] times the run's largest epoch loss: a loss near
  0 is made of residuals y - y_pred of nearly equal numbers, and an ulp of y_pred is then a
  large part of it (seen: an epoch loss of 1.8e-25, ours and fit's 4.8e-4 relative apart in
  float64, with weights 1.4e-16 apart). Observed: at most 0.046 of the tolerance used.
- a run that diverges (none of FUZZ_SEED's; 1 of the 300 others) is compared up to its
  divergence: fit trains on through NaN, our loop stops at the first non-finite step by
  design (check_divergence).

Budget: the file runs in ~31 s on this 2-core machine (16 cases; 24 took 44-47 s): each case
builds two models and traces fit and our loop once; XLA on a side adds one or two compiles
(~0.5-1.5 s), and fit on numpy arrays ~50 ms an epoch (a Dataset: ~10 ms).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lab.engine import batches
from keras_lab.engine.loop import GradientDescent
from keras_lab.models import mlp

# A deeper run: GD_FIT_FUZZ_SEED=1 GD_FIT_FUZZ_CASES=200 python -m pytest tests/test_gd_fit_fuzz.py
FUZZ_SEED = int(os.environ.get("GD_FIT_FUZZ_SEED", "20260611"))
NUM_CASES = int(os.environ.get("GD_FIT_FUZZ_CASES", "16"))
MAX_UPDATES = 120  # epochs x steps per epoch at most, per case
WEIGHTS = {"float64": 1e-10, "float32": 1e-5}
LOSS_RTOL = 1e-5
LOSS_ATOL = {"float64": 1e-12, "float32": 1e-6}  # x the largest epoch loss of the run
KERAS = keras.version()

REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum")
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", "elu", "softplus", "gelu", "swish")

# name -> (Keras class, options, targets, output activations, number of outputs (low, high))
LOSSES = {
    "mse": ("MeanSquaredError", {}, "real", ("linear", "tanh"), (1, 2)),
    "mae": ("MeanAbsoluteError", {}, "real", ("linear",), (1, 2)),
    "huber": ("Huber", {"delta": (0.5, 1.0, 2.0)}, "real", ("linear",), (1, 2)),
    "log_cosh": ("LogCosh", {}, "real", ("linear", "tanh"), (1, 2)),
    # positive outputs: a negative one is clipped to 0 and has no gradient
    "msle": ("MeanSquaredLogarithmicError", {}, "positive", ("softplus", "exponential"), (1, 2)),
    "poisson": ("Poisson", {}, "counts", ("softplus", "exponential"), (1, 2)),
    "bce": ("BinaryCrossentropy", {}, "binary", ("sigmoid",), (1, 2)),
    "bce_logits": ("BinaryCrossentropy", {"from_logits": (True,)}, "binary", ("linear",), (1, 2)),
    "cce": ("CategoricalCrossentropy", {}, "one_hot", ("softmax",), (2, 3)),
    "cce_logits": (
        "CategoricalCrossentropy",
        {"from_logits": (True,)},
        "one_hot",
        ("linear",),
        (2, 3),
    ),
    "kld": ("KLDivergence", {}, "probabilities", ("softmax",), (2, 3)),
    "hinge": ("Hinge", {}, "signs", ("linear", "tanh"), (1, 2)),
    "sq_hinge": ("SquaredHinge", {}, "signs", ("linear",), (1, 2)),
}


@dataclasses.dataclass(frozen=True)
class Case:
    index: int
    hidden: tuple[int, ...]
    activations: tuple[str, ...]
    output_activation: str
    loss: str
    loss_options: dict
    dtype: str
    batch_size: int
    drop_remainder: bool
    epochs: int
    learning_rate: float
    schedule: str
    decay_rate: float
    decay_steps: int
    jit_compile: bool | str
    fit_jit: bool
    fit_input: str
    run_calls: tuple[int, ...]
    chunk_epochs: int | None
    x: np.ndarray
    y: np.ndarray
    start: tuple[np.ndarray, ...]

    @property
    def num_samples(self) -> int:
        return len(self.x)

    @property
    def steps_per_epoch(self) -> int:
        full, remainder = divmod(self.num_samples, self.batch_size)
        return full + (1 if remainder and not self.drop_remainder else 0)

    @property
    def id(self) -> str:
        schedule = {"constant": "const", "exponential": "exp", "inverse_time": "invtime"}
        return "-".join(
            [
                f"case{self.index:02d}",
                f"n{self.num_samples}",
                f"b{self.batch_size}" + ("drop" if self.drop_remainder else ""),
                f"e{'+'.join(map(str, self.run_calls))}"
                + (f"c{self.chunk_epochs}" if self.chunk_epochs else ""),
                ".".join(self.activations),
                self.loss
                + {"mean": ".mean", "mean_with_sample_weight": ".mws", "sum": ".sum"}.get(
                    self.loss_options.get("reduction"), ""
                ),
                {"float32": "f32", "float64": "f64"}[self.dtype],
                {False: "graph", True: "loop"}[self.jit_compile],
                f"fit{'xla' if self.fit_jit else 'graph'}.{self.fit_input}",
                schedule[self.schedule],
            ]
        )


def _f32(values: np.ndarray) -> np.ndarray:
    """float64 values exact in float32 (model.fit casts float64 numpy data to float32)."""
    return np.asarray(values, np.float32).astype(np.float64)


def _targets(rng: np.random.Generator, kind: str, n: int, k: int) -> np.ndarray:
    if kind == "real":
        return _f32(rng.uniform(-2, 2, (n, k)))
    if kind == "positive":
        return _f32(rng.uniform(0, 3, (n, k)))
    if kind == "counts":
        return rng.poisson(1.5, (n, k)).astype(np.float64)
    if kind == "binary":
        return rng.integers(0, 2, (n, k)).astype(np.float64)
    if kind == "one_hot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "probabilities":
        return _f32(rng.dirichlet(np.ones(k), n))
    if kind == "signs":
        return rng.choice([-1.0, 1.0], (n, k))
    raise AssertionError(kind)


def draw_case(rng: np.random.Generator, index: int, modes: tuple = (False, True)) -> Case:
    """One configuration; ``modes``: our jit_compile values to draw from."""
    n = int(rng.integers(1, 41))
    features = int(rng.integers(1, 4))
    hidden = tuple(int(w) for w in rng.integers(1, 9, int(rng.integers(1, 3))))
    activations = tuple(str(a) for a in rng.choice(HIDDEN_ACTIVATIONS, len(hidden)))
    loss = str(rng.choice(list(LOSSES)))
    _, option_draws, kind, output_activations, (low, high) = LOSSES[loss]
    options = {key: values[int(rng.integers(len(values)))] for key, values in option_draws.items()}
    # the batch loss: a mean (Keras's default, or its synonyms: "mean_with_sample_weight" is
    # no per-sample mean to our per_sample_loss, so the loop calls the Loss on the batch)
    # or a sum of the per-sample losses (its gradient is up to batch_size times larger)
    reduction = str(rng.choice(REDUCTIONS, p=[0.55, 0.15, 0.15, 0.15]))
    if reduction != "sum_over_batch_size":
        options["reduction"] = reduction
    outputs = int(rng.integers(low, high + 1))
    batch_size = int(rng.integers(1, n + 1))
    fit_input = "numpy" if rng.integers(4) == 0 else "dataset"
    drop_remainder = bool(fit_input == "dataset" and n % batch_size and rng.integers(4) == 0)
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    epochs = int(rng.integers(1, min(30, MAX_UPDATES // steps) + 1))
    learning_rate = int(rng.integers(1, 17)) / 64  # exact in float32
    if reduction == "sum":  # divided by a power of 2 >= batch_size: still exact
        learning_rate /= 2 ** int(np.ceil(np.log2(batch_size)))
    if fit_input == "numpy":  # Keras's array adapter costs ~50 ms an epoch, a Dataset ~10
        epochs = min(epochs, 6)
    # our side: gd.run(E) or E in 2-3 calls; compiled chunks of all epochs (up to
    # LOG_CAPACITY) or of 1-3 epochs (batches.ORDER_ENTRIES cut as in test_gd)
    cuts = sorted(rng.choice(np.arange(1, epochs), min(epochs - 1, int(rng.integers(0, 3))), False))
    run_calls = tuple(int(c) for c in np.diff([0, *cuts, epochs]))
    chunk_epochs = int(rng.integers(1, 4)) if rng.integers(3) == 0 else None
    x = _f32(rng.uniform(-2, 2, (n, features)))
    y = _targets(rng, kind, n, outputs)
    sizes = (features, *hidden, outputs)
    start = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        start.append(rng.normal(0, 1 / np.sqrt(fan_in), (fan_in, fan_out)))
        start.append(rng.normal(0, 0.3, fan_out))
    return Case(
        index=index,
        hidden=hidden,
        activations=activations,
        output_activation=str(rng.choice(output_activations)),
        loss=loss,
        loss_options=options,
        dtype=("float32", "float64")[index // len(modes) % 2],  # every (dtype, mode) as often
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        epochs=epochs,
        learning_rate=learning_rate,
        schedule=str(rng.choice(["constant", "exponential", "inverse_time"])),
        decay_rate=float(rng.choice([0.25, 0.3, 0.5, 0.9])),
        decay_steps=int(rng.integers(1, 21)),
        jit_compile=modes[index % len(modes)],
        # fit's XLA on numpy arrays traces each batch shape (~3 s a case): on a Dataset only
        fit_jit=bool(fit_input == "dataset" and rng.integers(5) == 0),
        fit_input=fit_input,
        run_calls=run_calls,
        chunk_epochs=chunk_epochs,
        x=x,
        y=y,
        start=tuple(start),
    )


def draw_cases(seed: int = FUZZ_SEED, count: int = NUM_CASES, modes: tuple = (False, True)):
    rng = np.random.default_rng(seed)
    return [draw_case(rng, index, modes) for index in range(count)]


def _model(case: Case) -> keras.Sequential:
    model = mlp(
        hidden=case.hidden,
        activation=case.activations,
        input_dim=case.x.shape[1],
        output_dim=case.y.shape[1],
        output_activation=case.output_activation,
        dtype=case.dtype,
    )
    model.set_weights([w.astype(case.dtype) for w in case.start])
    return model


def _loss(case: Case) -> keras.losses.Loss:
    return getattr(keras.losses, LOSSES[case.loss][0])(dtype=case.dtype, **case.loss_options)


def _keras_learning_rate(case: Case, number: type | None = None):
    """Keras's learning rate: the number, or the schedule; ``number`` the type of the
    schedule's numbers (default: numpy float64 for float64 models; see the docstring)."""
    if case.schedule == "constant":
        return case.learning_rate
    if number is None:
        number = np.float64 if case.dtype == "float64" else float
    schedule = {
        "exponential": keras.optimizers.schedules.ExponentialDecay,
        "inverse_time": keras.optimizers.schedules.InverseTimeDecay,
    }[case.schedule]
    return schedule(
        number(case.learning_rate),
        decay_steps=case.decay_steps,
        decay_rate=number(case.decay_rate),
    )


def fit_keras(case: Case, learning_rate=None) -> tuple[list[np.ndarray], np.ndarray]:
    """model.fit(SGD) from the case's start: (final weights, per-epoch losses)."""
    model = _model(case)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate or _keras_learning_rate(case)),
        loss=_loss(case),
        jit_compile=case.fit_jit,
    )
    if case.fit_input == "numpy":
        data = {"x": case.x, "y": case.y, "batch_size": case.batch_size}
    else:
        batches = tf.data.Dataset.from_tensor_slices((case.x, case.y))
        data = {"x": batches.batch(case.batch_size, drop_remainder=case.drop_remainder)}
    history = model.fit(**data, epochs=case.epochs, shuffle=False, verbose=0).history
    return model.get_weights(), np.asarray(history["loss"], np.float64)


def fit_ours(case: Case, y: np.ndarray | None = None):
    """Our loop from the case's start: (final weights, per-epoch losses, failed step, steps)."""
    model = _model(case)
    entries = (
        batches.ORDER_ENTRIES
        if case.chunk_epochs is None
        else case.chunk_epochs * case.steps_per_epoch
    )
    with mock.patch.object(batches, "ORDER_ENTRIES", entries):
        gd = GradientDescent(
            model,
            _loss(case),
            case.x,
            case.y if y is None else y,
            batch_size=case.batch_size,
            learning_rate=case.learning_rate,
            schedule=case.schedule,
            decay_rate=case.decay_rate,
            decay_steps=case.decay_steps,
            shuffle=False,
            drop_remainder=case.drop_remainder,
            jit_compile=case.jit_compile,
        )
    if case.chunk_epochs:
        assert gd.batches.capacity == case.chunk_epochs
    runs = [gd.run(epochs) for epochs in case.run_calls]
    losses = np.concatenate([stats.loss for stats in runs])
    return model.get_weights(), losses, runs[-1].failed_step, int(gd.step.numpy())


def weight_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """max |a - b| / (1 + |b|) over every weight."""
    return max(float(np.max(np.abs(u - v) / (1 + np.abs(v)))) for u, v in zip(a, b))


def check_agreement(case: Case) -> dict:
    """Run both sides and assert every agreement of the module docstring; returns the
    measured numbers."""
    theirs, their_loss = fit_keras(case)
    ours, our_loss, failed_step, steps = fit_ours(case)
    where = f"{case.id} (Keras {KERAS})"
    if not np.all(np.isfinite(their_loss)):
        return check_divergence(case, their_loss, ours, our_loss, failed_step, steps, where)
    assert failed_step == -1, where
    assert steps == case.epochs * case.steps_per_epoch, where
    difference = weight_difference(ours, theirs)
    moved = weight_difference(theirs, [w.astype(case.dtype) for w in case.start])
    assert difference <= WEIGHTS[case.dtype], f"{where}: weights {difference:.3g} apart"
    assert moved > 1e3 * difference, f"{where}: moved {moved:.3g}, {difference:.3g} apart"
    return {"difference": difference, "moved": moved, **check_losses(case, our_loss, their_loss)}


def check_losses(case: Case, our_loss: np.ndarray, their_loss: np.ndarray) -> dict:
    assert len(our_loss) == len(their_loss), case.id
    atol = LOSS_ATOL[case.dtype] * float(np.max(their_loss, initial=0.0))
    np.testing.assert_allclose(our_loss, their_loss, rtol=LOSS_RTOL, atol=atol, err_msg=case.id)
    ratio = np.abs(our_loss - their_loss) / (LOSS_RTOL * np.abs(their_loss) + atol)
    return {"loss_ratio": float(np.max(ratio, initial=0.0))}


def check_divergence(case, their_loss, ours, our_loss, failed_step, steps, where) -> dict:
    """A run that diverged (not in FUZZ_SEED's cases; 1 of 300 cases of seeds 1-3): fit
    trains on through NaN or inf, our loop stops at the first step whose loss or gradient
    is not finite, applies nothing there and reports only the epochs before it (by design:
    keras_lab.engine.loop). fit's first non-finite epoch is the one of that step, or of the next
    step (a finite loss with an overflowing gradient makes the next loss NaN)."""
    first_bad = int(np.argmin(np.isfinite(their_loss)))
    assert failed_step >= 0, f"{where}: fit diverged at epoch {first_bad}, ours did not"
    assert steps == failed_step, where
    assert first_bad in (
        failed_step // case.steps_per_epoch,
        (failed_step + 1) // case.steps_per_epoch,
    ), where
    assert all(np.all(np.isfinite(w)) for w in ours), where
    completed = failed_step // case.steps_per_epoch
    return {"diverged_at": failed_step, **check_losses(case, our_loss, their_loss[:completed])}


CASES = draw_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_loop_matches_keras_fit(case):
    check_agreement(case)


# ----------------------------------------------------------------- known differences
# One float64 configuration: a 1-3-1 tanh network, mse, 9 samples in batches of 4, 6 epochs.
_RNG = np.random.default_rng(7)
KNOWN = Case(
    index=99,
    hidden=(3,),
    activations=("tanh",),
    output_activation="linear",
    loss="mse",
    loss_options={},
    dtype="float64",
    batch_size=4,
    drop_remainder=False,
    epochs=6,
    learning_rate=0.125,
    schedule="constant",
    decay_rate=0.5,
    decay_steps=1,
    jit_compile=False,
    fit_jit=False,
    fit_input="numpy",
    run_calls=(6,),
    chunk_epochs=None,
    x=_f32(_RNG.uniform(-2, 2, (9, 1))),
    y=_f32(_RNG.uniform(-2, 2, (9, 1))),
    start=(
        _RNG.normal(0, 1, (1, 3)),
        _RNG.normal(0, 0.3, 3),
        _RNG.normal(0, 0.6, (3, 1)),
        _RNG.normal(0, 0.3, 1),
    ),
)
UNROUNDED_Y = _RNG.uniform(-2, 2, (9, 1))  # float64, not exact in float32


@functools.cache
def _float64_data_runs() -> dict[str, list[np.ndarray]]:
    """KNOWN on float64 targets not exact in float32: final weights of fit on numpy arrays
    and on a tf.data.Dataset, and of our loop on the targets and on them rounded to float32."""
    case = dataclasses.replace(KNOWN, y=UNROUNDED_Y)
    return {
        "fit numpy": fit_keras(case)[0],
        "fit dataset": fit_keras(dataclasses.replace(case, fit_input="dataset"))[0],
        "ours": fit_ours(case)[0],
        "ours on y rounded to float32": fit_ours(case, y=_f32(UNROUNDED_Y))[0],
    }


def test_float64_data_not_exact_in_float32_equal_what_fit_trains_on():
    """Our loop trains on the data it is given. model.fit on numpy arrays may cast float64
    data to floatx, float32 (Keras 3.15.1 does: array_slicing's 'Normalize floats to
    floatx'; KNOWN's weights then end 1.9e-9 apart): detected here, not assumed. Either way
    ours equals fit on what fit trained on, and fit on a tf.data.Dataset (no cast) equals
    ours on the float64 data."""
    runs = _float64_data_runs()
    assert not np.array_equal(_f32(UNROUNDED_Y), UNROUNDED_Y)
    assert weight_difference(runs["ours"], runs["fit dataset"]) <= 1e-15
    fit_rounds = weight_difference(runs["ours"], runs["fit numpy"]) > WEIGHTS["float64"]
    same_data = runs["ours on y rounded to float32"] if fit_rounds else runs["ours"]
    assert weight_difference(same_data, runs["fit numpy"]) <= 1e-15, f"Keras {KERAS}"


def test_float64_schedules_equal_the_formula_and_keras_given_float64_numbers():
    """eta = 0.125 * 0.9 ** (5 / 3) in float64 is ours, and Keras's ExponentialDecay's given
    numpy float64 numbers. Given a Python float decay_rate, Keras 3.15.1 casts it with
    ops.cast, which makes a float32 tensor first (0.89999997615814..., eta 4.4e-8 relative
    off; KNOWN's weights end 2.7e-8 apart): detected, and then it must be exactly that
    rounding. Ours trains with the exact schedule: KNOWN's weights equal fit's with numpy
    float64 numbers."""
    from keras_lab.lecture.gd import learning_rate_at

    f64 = lambda value: tf.constant(value, tf.float64)  # noqa: E731
    ours = float(learning_rate_at(f64(5), f64(0.125), 1, f64(0.9), f64(3)))
    exponential = keras.optimizers.schedules.ExponentialDecay
    python_float = float(exponential(np.float64(0.125), 3, 0.9)(5))
    numpy_float = float(exponential(np.float64(0.125), 3, np.float64(0.9))(5))
    assert ours == pytest.approx(0.125 * 0.9 ** (5 / 3), rel=1e-15)
    assert numpy_float == pytest.approx(ours, rel=1e-15)
    rounded = 0.125 * float(np.float32(0.9)) ** (5 / 3)
    assert python_float in (pytest.approx(ours, rel=1e-15), pytest.approx(rounded, rel=1e-15))

    case = dataclasses.replace(KNOWN, schedule="exponential", decay_rate=0.9, decay_steps=3)
    theirs, _ = fit_keras(case, learning_rate=_keras_learning_rate(case, number=np.float64))
    weights, *_ = fit_ours(case)
    assert weight_difference(weights, theirs) <= WEIGHTS["float64"]
