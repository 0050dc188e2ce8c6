"""keras_lab.lecture.gd: the explicit GradientTape loop against Keras, numpy and itself."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lab.data import lecture_data, sine_data
from keras_lab.engine import batches
from keras_lab.engine.loop import GradientDescent
from keras_lab.lecture import backprop, order
from keras_lab.lecture.backprop import LECTURE_WEIGHTS
from keras_lab.lecture.gd import epoch_order, epoch_orders, learning_rate_at, variant_batch_size
from keras_lab.models import get_lecture_weights, sine_fit_model


def mse64():
    return keras.losses.MeanSquaredError(dtype="float64")


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("variant", ["batch", "sgd", "minibatch"])
def test_variants_match_keras_fit(variant, jit):
    """Same start, shuffle off, same loss: our loop ends where model.fit(SGD) ends."""
    x, y = lecture_data("float64")
    batch_size = variant_batch_size(variant, len(x), 4)  # 9, 1, 4 (4, 4 and a ragged 1)
    # lr 0.125 is exact in float32, the dtype of Keras's learning-rate variable, so the
    # two runs take the very same steps.
    # fit gets a tf.data.Dataset: on numpy arrays it casts float64 data to float32 (Keras
    # 3.15.1), and the lecture's targets (1.707...) are not exact in float32: its weights
    # then end 5e-9 to 3e-8 from ours (tests/test_gd_fit_fuzz.py)
    theirs = sine_fit_model(seed=3, dtype="float64")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.125), loss=mse64())
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    fit = theirs.fit(batches, epochs=50, shuffle=False, verbose=0)
    ours = sine_fit_model(seed=3, dtype="float64")
    gd = GradientDescent(
        ours,
        mse64(),
        x,
        y,
        batch_size=batch_size,
        learning_rate=0.125,
        shuffle=False,
        jit_compile=jit,
    )
    stats = gd.run(50)
    difference = max(
        np.max(np.abs(a - b)) for a, b in zip(ours.get_weights(), theirs.get_weights())
    )
    assert difference < 1e-12  # float64, the same steps: observed <= 7e-16
    np.testing.assert_allclose(stats.loss, fit.history["loss"], rtol=1e-6)  # fit's: float32
    assert int(gd.step.numpy()) == 50 * {"batch": 1, "sgd": 9, "minibatch": 3}[variant]
    # the weights moved: agreement is not two copies of the start
    assert difference < 1e-3 * max(
        np.max(np.abs(a - b))
        for a, b in zip(ours.get_weights(), sine_fit_model(seed=3, dtype="float64").get_weights())
    )


def test_sgd_matches_numpy_backprop_step_by_step():
    """Stochastic GD on the lecture's data from its weights, each of 18 updates."""
    x, t = lecture_data("float64")
    model = sine_fit_model(init="lecture", dtype="float64")
    gd = GradientDescent(model, mse64(), x, t, batch_size=1, learning_rate=0.3, shuffle=False)
    layers = LECTURE_WEIGHTS
    for step in range(18):  # two epochs
        i = step % 9
        gd.train_step(tf.constant(x[i : i + 1]), tf.constant(t[i : i + 1]))
        layers = backprop.sgd_step(layers, ["sigmoid", "linear"], x[i], t[i], 0.3)
        for (w, b), (ow, ob) in zip(layers, get_lecture_weights(model)):
            np.testing.assert_allclose(ow, w, rtol=0, atol=1e-13, err_msg=f"step {step}")
            np.testing.assert_allclose(ob, b, rtol=0, atol=1e-13, err_msg=f"step {step}")


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_shuffled_sgd_visits_the_reference_orders_step_by_step(jit):
    """Shuffled SGD over 3 epochs (two calls: 2 + 1) equals numpy back propagation
    stepping through keras_lab.lecture.order's orders (the numpy reference, not the loop's code)."""
    x, t = lecture_data("float64")
    model = sine_fit_model(init="lecture", dtype="float64")
    gd = GradientDescent(
        model, mse64(), x, t, batch_size=1, learning_rate=0.3, seed=11, jit_compile=jit
    )
    gd.run(2)
    gd.run(1)
    layers = LECTURE_WEIGHTS
    for epoch in range(3):
        for i in order.epoch_order(9, seed=11, epoch=epoch):
            layers = backprop.sgd_step(layers, ["sigmoid", "linear"], x[i], t[i], 0.3)
    for (w, b), (ow, ob) in zip(layers, get_lecture_weights(model)):
        np.testing.assert_allclose(ow, w, rtol=0, atol=1e-13)
        np.testing.assert_allclose(ob, b, rtol=0, atol=1e-13)


def test_the_compiled_order_equals_the_numpy_reference():
    """gd.epoch_order (TensorFlow, entry by entry) against keras_lab.lecture.order (numpy, whole
    array, cycle walk of the outside values): random n, 64-bit seeds, epochs, positions;
    eager and XLA; one seed and a vector of seeds."""
    rng = np.random.default_rng(5)
    sizes = [1, 2, 3, 9, 10, 17, 1000, 4099, *rng.integers(1, 5000, 6).tolist()]
    for n in sizes:
        seeds = rng.integers(0, 2**63 - 1, 3, dtype=np.int64)
        epoch = int(rng.integers(0, 2**40))
        positions = rng.integers(0, n, min(n, 37))
        expected = [order.epoch_order(n, int(s), epoch)[positions] for s in seeds]
        xla = tf.function(functools.partial(epoch_order, n), jit_compile=True)
        for fn in (functools.partial(epoch_order, n), xla):
            one = fn(tf.constant(seeds[0]), tf.constant(epoch, tf.int64), positions)
            np.testing.assert_array_equal(one, expected[0], err_msg=f"n={n}")
            many = fn(tf.constant(seeds), tf.constant(epoch, tf.int64), positions)
            np.testing.assert_array_equal(many, np.stack(expected), err_msg=f"n={n}")
        full = epoch_order(n, tf.constant(seeds[1]), epoch, tf.range(n)).numpy()
        assert sorted(full.tolist()) == list(range(n))  # a permutation


def test_seeds_differing_above_32_bits_give_different_orders():
    assert not np.array_equal(order.epoch_order(100, 5, 0), order.epoch_order(100, 5 + 2**32, 0))


def test_changing_learning_rate_schedule_and_epochs_does_not_retrace():
    x, y = lecture_data()
    gd = GradientDescent(sine_fit_model(), "mse", x, y, batch_size=1, learning_rate=0.3)
    gd.run(2)
    assert gd.tracing_count == 1
    gd.learning_rate.assign(0.05)
    gd.run(7)
    gd.schedule.assign(1)  # exponential
    gd.decay_rate.assign(0.9)
    gd.run(3)
    gd.schedule.assign(2)  # inverse time
    gd.decay_steps.assign(10.0)
    gd.run(1)
    assert gd.tracing_count == 1


@pytest.mark.parametrize(
    "schedule, keras_schedule",
    [
        (
            "exponential",
            keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=7, decay_rate=0.5),
        ),
        (
            "inverse_time",
            keras.optimizers.schedules.InverseTimeDecay(0.2, decay_steps=7, decay_rate=0.5),
        ),
    ],
)
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("epochs_per_call", [1, None])  # None: as many as the loop takes
def test_schedules_equal_keras_schedules(
    schedule, keras_schedule, jit_compile, epochs_per_call, monkeypatch
):
    # Under XLA the chunk's rates are a table made before its loop (lecture.gd.learning_rates):
    # calls of one epoch each (ORDER_ENTRIES cut to 5 steps) start tables at every epoch.
    if epochs_per_call:
        monkeypatch.setattr(batches, "ORDER_ENTRIES", 5)
    x, y = lecture_data()
    gd = GradientDescent(
        sine_fit_model(),
        "mse",
        x,
        y,
        batch_size=2,
        learning_rate=0.2,
        schedule=schedule,
        decay_rate=0.5,
        decay_steps=7,
        jit_compile=jit_compile,
    )
    assert gd.batches.capacity == (epochs_per_call or batches.LOG_CAPACITY)
    rates = np.concatenate([gd.run(11).learning_rate, gd.run(29).learning_rate])
    # 5 updates per epoch (2, 2, 2, 2, 1): the last update of epoch k is number 5k - 1.
    # Keras computes in float32; so do we, the same bits (step 149: a vectorised Pow
    # would be 1 ulp off).
    expected = [keras_schedule(5 * k - 1).numpy() for k in range(1, 41)]
    np.testing.assert_array_equal(rates.astype(np.float32), expected)
    assert rates[-1] < rates[0]
    f64 = lambda v: tf.constant(v, tf.float64)  # noqa: E731
    assert float(learning_rate_at(f64(123), f64(0.2), 0, f64(0.5), f64(7))) == 0.2


def test_shuffling_is_seeded_and_changes_every_epoch():
    x, y = sine_data(64, seed=0)

    def train(seed, shuffle=True):
        model = sine_fit_model(seed=0)
        GradientDescent(
            model, "mse", x, y, batch_size=8, learning_rate=0.1, seed=seed, shuffle=shuffle
        ).run(3)
        return model.get_weights()

    same = train(1), train(1)
    for a, b in zip(*same):
        np.testing.assert_array_equal(a, b)  # deterministic: bit for bit
    assert not np.allclose(same[0][0], train(2)[0])
    assert not np.allclose(same[0][0], train(1, shuffle=False)[0])
    first, second = epoch_orders(64, seed=1, first_epoch=0, num_epochs=2)
    assert sorted(first.tolist()) == list(range(64)) and sorted(second.tolist()) == list(range(64))
    assert not np.array_equal(first, second)


def test_ragged_last_batch_is_kept_unless_dropped():
    x, y = lecture_data()
    kept = GradientDescent(sine_fit_model(), "mse", x, y, batch_size=4, learning_rate=0.1)
    dropped = GradientDescent(
        sine_fit_model(), "mse", x, y, batch_size=4, learning_rate=0.1, drop_remainder=True
    )
    kept.run(2)
    dropped.run(2)
    assert (int(kept.step.numpy()), int(dropped.step.numpy())) == (6, 4)  # (4+4+1) vs (4+4)


def test_divergence_stops_at_the_first_non_finite_step_with_finite_weights():
    x, y = lecture_data()
    model = sine_fit_model(seed=0)
    gd = GradientDescent(model, "mse", x, y, batch_size=1, learning_rate=100.0, shuffle=False)
    stats = gd.run(50)
    assert stats.failed_step >= 0
    assert int(gd.step.numpy()) == stats.failed_step  # every update before it was applied
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert len(stats.loss) == int(gd.epoch.numpy()) < 50  # the failed epoch is not reported


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_an_update_that_overflows_is_not_applied(jit):
    """eta * grad can overflow with the loss and the gradient finite (float32: eta = 1e38,
    the SSE's gradient up to ~8.7 here): that step applies nothing and the run stops there.
    Before,
    the guard checked only the loss and the gradient, so a run's last update could leave
    inf weights and end as if it had succeeded (found by tests/test_train_cli_fuzz.py)."""
    x, y = lecture_data()
    model = sine_fit_model(seed=0)
    start = model.get_weights()
    sse = keras.losses.MeanSquaredError(reduction="sum")
    gd = GradientDescent(
        model, sse, x, y, batch_size=9, learning_rate=1e38, shuffle=False, jit_compile=jit
    )
    _, grads = gd._gradient(gd._flatten(model.trainable_variables), x, y, 9)
    largest = float(np.max(np.abs(grads.numpy())))
    assert np.all(np.isfinite(grads)) and largest * 1e38 > float(np.finfo("f4").max)
    stats = gd.run(3)
    assert stats.failed_step == 0 and int(gd.step.numpy()) == 0 and len(stats.loss) == 0
    for now, before in zip(model.get_weights(), start):
        np.testing.assert_array_equal(now, before)


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_a_failed_loop_runs_nothing_more(jit):
    """run() after a failure: no step, no epoch, the same weights and failed step."""
    x, y = lecture_data()
    model = sine_fit_model(seed=0)
    gd = GradientDescent(
        model, "mse", x, y, batch_size=1, learning_rate=100.0, shuffle=False, jit_compile=jit
    )
    failed = gd.run(50).failed_step
    assert failed >= 0
    state = (int(gd.step.numpy()), int(gd.epoch.numpy()), model.get_weights())
    again = gd.run(5)
    assert again.failed_step == failed and len(again.loss) == len(again.learning_rate) == 0
    assert (int(gd.step.numpy()), int(gd.epoch.numpy())) == state[:2]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), state[2]))


def test_a_custom_loss_function_works_in_the_loop():
    import custom_losses

    x, y = lecture_data("float64")
    a, b = sine_fit_model(seed=1, dtype="float64"), sine_fit_model(seed=1, dtype="float64")
    GradientDescent(
        a, custom_losses.huber, x, y, batch_size=3, learning_rate=0.1, shuffle=False
    ).run(5)
    GradientDescent(
        b, keras.losses.huber, x, y, batch_size=3, learning_rate=0.1, shuffle=False
    ).run(5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size must be between 1 and the 9 samples, got 0"),
        ({"batch_size": 10}, "batch_size must be between 1 and the 9 samples, got 10"),
        ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0, got 0.0"),
        ({"learning_rate": float("inf")}, "learning_rate must be a finite number > 0, got inf"),
        ({"schedule": "cosine"}, "unknown learning-rate schedule 'cosine'"),
        ({"decay_steps": 0}, "decay_steps must be a finite number > 0, got 0"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    x, y = lecture_data()
    arguments = {"batch_size": 1, "learning_rate": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        GradientDescent(sine_fit_model(), "mse", x, y, **arguments)


def test_run_after_a_failure_trains_nothing_and_reports_it():
    """A loop that stopped at a non-finite step stays stopped: run() returns no epochs."""
    x, y = lecture_data()
    gd = GradientDescent(sine_fit_model(), "mse", x, y, batch_size=9, learning_rate=1e30)
    first = gd.run(5)
    assert first.failed_step >= 0
    again = gd.run(3)
    assert again.loss.shape == (0,) and again.failed_step == first.failed_step
    assert int(gd.step.numpy()) == first.failed_step
