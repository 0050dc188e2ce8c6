"""K starts at once (experiments.multistart): start i is one GradientDescent run from seed i."""

from __future__ import annotations

import numpy as np
import pytest

from keras_lab import models
from keras_lab.data import lecture_data
from keras_lab.engine.loop import GradientDescent
from keras_lab.experiments.multistart import (
    MultiStartGD,
    cluster_values,
    run_multistart,
    settle,
    spread_claim,
)

ALPHA = 0.3  # the lecture listing's learning rate
EPOCHS = 6  # few epochs: enough for shuffled orders and weights to differ between starts
NUM_STARTS = 5  # small K: the equality is per slice, K does not change it
TOLERANCE = 1e-6  # the bound; float64 runs agree to ~1e-15 (measured)


def _single_run(seed: int, batch_size: int, shuffle_seed: int, shuffle: bool = True):
    x, y = lecture_data("float64")
    model = models.sine_fit_model(seed=seed, dtype="float64")
    gd = GradientDescent(
        model,
        "mse",
        x,
        y,
        batch_size=batch_size,
        learning_rate=ALPHA,
        shuffle=shuffle,
        seed=shuffle_seed,
    )
    stats = gd.run(EPOCHS)
    return models.get_lecture_weights(model), stats.loss


def _max_difference(a, b) -> float:
    return max(float(np.max(np.abs(p - q))) for la, lb in zip(a, b) for p, q in zip(la, lb))


# batch GD (9), SGD (1), and a mini-batch of 4 that leaves a remainder of 1 of the 9 points
@pytest.mark.parametrize("batch_size", [9, 1, 4])
def test_start_i_equals_a_single_run_from_seed_i(batch_size):
    x, y = lecture_data("float64")
    runner = MultiStartGD(x, y, range(NUM_STARTS), batch_size, ALPHA, dtype="float64")
    result = runner.run(EPOCHS)
    start = NUM_STARTS - 1  # the last slice: an off-by-one in the K axis would show here
    weights, loss = _single_run(start, batch_size, shuffle_seed=start)
    assert _max_difference(runner.lecture_weights(start), weights) < TOLERANCE
    np.testing.assert_allclose(result.loss[:, start], loss, atol=TOLERANCE)
    # the starts really differ (else the test could not tell start 0 from start K-1)
    assert _max_difference(runner.lecture_weights(0), runner.lecture_weights(NUM_STARTS - 1)) > 0.01


def test_shared_shuffle_seed_and_no_shuffle_match_single_runs():
    x, y = lecture_data("float64")
    shared = MultiStartGD(x, y, [3, 7], 1, ALPHA, shuffle_seed=11, dtype="float64")
    shared.run(EPOCHS)
    weights, _ = _single_run(7, 1, shuffle_seed=11)
    assert _max_difference(shared.lecture_weights(1), weights) < TOLERANCE
    in_order = MultiStartGD(x, y, [3, 7], 2, ALPHA, shuffle=False, dtype="float64")
    in_order.run(EPOCHS)
    weights, _ = _single_run(3, 2, shuffle_seed=0, shuffle=False)
    assert _max_difference(in_order.lecture_weights(0), weights) < TOLERANCE


def test_start_weights_are_the_models_random_starts():
    x, y = lecture_data("float64")
    runner = MultiStartGD(x, y, [0, 5], 9, ALPHA, dtype="float64")
    assert _max_difference(runner.lecture_weights(1), models.lecture_random_weights(5)) == 0.0
    sse = runner.sse()
    start = models.sine_fit_model(seed=5, dtype="float64")
    expected = float(np.sum((y - start.predict(x, verbose=0)) ** 2))
    np.testing.assert_allclose(sse[1], expected, rtol=1e-12)


def test_a_failed_start_stops_and_the_others_go_on():
    x, y = lecture_data("float64")
    runner = MultiStartGD(x, y, [0, 1], 9, ALPHA, dtype="float64")
    runner.model.bias2.assign(np.array([[np.nan], [runner.model.bias2.numpy()[1, 0]]]))
    result = runner.run(3)
    assert result.failed.tolist() == [True, False]
    healthy = MultiStartGD(x, y, [1], 9, ALPHA, dtype="float64")
    healthy.run(3)
    assert _max_difference(runner.lecture_weights(1), healthy.lecture_weights(0)) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 10}, "between 1 and the 9 samples, got 10"),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number > 0, got -1.0"),
        ({"seeds": []}, "seeds is empty"),
        ({"dtype": "float16"}, "unknown dtype 'float16'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, match):
    x, y = lecture_data()
    arguments = {"seeds": [0], "batch_size": 1, "learning_rate": 0.3, **kwargs}
    with pytest.raises(ValueError, match=match):
        MultiStartGD(x, y, **arguments)


def test_cluster_values_splits_at_gaps_larger_than_the_tolerance():
    # two groups 0.1 apart, members within 1e-4: tolerance 1e-3 splits them, 1.0 does not
    values = [0.2001, 0.1, 0.2, 0.1001, np.nan]
    clusters = cluster_values(values, tolerance=1e-3)
    assert [(c.count, c.low, c.high) for c in clusters] == [(2, 0.1, 0.1001), (2, 0.2, 0.2001)]
    assert [c.count for c in cluster_values(values, tolerance=1.0)] == [4]
    assert cluster_values([np.nan]) == []
    with pytest.raises(ValueError, match="got -1"):
        cluster_values(values, tolerance=-1)


def test_settle_continues_each_start_with_batch_gd():
    x, y = lecture_data("float64")
    runner = MultiStartGD(x, y, [0, 1], 9, ALPHA, shuffle=False, dtype="float64")
    runner.run(5)
    settled = settle(runner, 3, ALPHA, jit_compile=False).final_sse
    straight = MultiStartGD(x, y, [0, 1], 9, ALPHA, shuffle=False, dtype="float64")
    straight.run(8)  # 5 + 3 epochs of batch GD in one go
    assert _max_difference(runner.lecture_weights(1), straight.lecture_weights(1)) < 1e-12
    np.testing.assert_allclose(settled, straight.sse(), rtol=1e-12)


def test_sgd_spread_is_noise_not_minima_at_the_compare_defaults():
    """multistart.png's claim at `python -m keras_lab.compare`'s defaults (K = 256, 2000
    epochs, alpha = 0.3, mini-batch 3, start i shuffles with seed i, float32, XLA; then 500
    batch-GD epochs). It said 'runs per local minimum' of SGD's 237/17/2 groups."""
    x, y = lecture_data()
    result = run_multistart(x, y, 256, 2000, ALPHA, 3, shuffle_seed=None)
    claim = spread_claim(result, tolerance=1e-3)
    assert claim["holds"] and claim["settled_groups"] == 1
    # this code's measurement: SGD's ends spread 12.6x, continued 1.31x (batch GD's 1.43x)
    assert claim["ratio"]["sgd"] > 10 and claim["settled_ratio"]["sgd"] < 1.5
    assert claim["settled_range"]["sgd"][1] <= claim["settled_range"]["batch"][1]
    for variant, runs in result.items():  # continuing never raised a start's SSE
        assert all(a <= b * (1 + 1e-6) for a, b in zip(runs["settled_sse"], runs["final_sse"]))


def test_spread_claim_fails_when_continued_ends_form_two_levels():
    result = {
        "batch": {"final_sse": [1.0, 2.0], "settled_sse": [1.0, 2.0]},  # two minima
        "sgd": {"final_sse": [1.0, 9.0], "settled_sse": [1.0, 1.1]},
    }
    claim = spread_claim(result, tolerance=0.5)
    assert claim["settled_groups"] == 2 and not claim["holds"]
