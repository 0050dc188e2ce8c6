"""keras_lab.stream and `python -m keras_lab.data write`: shards on disk, streamed like memory."""

import json
import os

import keras
import numpy as np
import pytest

from keras_lab import data, distribute, stream
from keras_lab.gd import GradientDescent
from keras_lab.models import get_lecture_weights, mlp


def max_difference(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """1000 samples in 3 shards: 334 + 333 + 333, so no shard is a whole number of batches."""
    folder = str(tmp_path_factory.mktemp("shards") / "sine")
    stream.write_shards(folder, 1000, num_shards=3, seed=2, dtype="float64")
    return folder


def test_shards_hold_exactly_sine_data_and_a_manifest(shards):
    x, y = stream.read_all(shards)
    expected_x, expected_y = data.sine_data(1000, seed=2, dtype="float64")  # noise 0: same draw
    assert np.array_equal(x, expected_x) and np.array_equal(y, expected_y)
    with open(os.path.join(shards, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["samples"] == 1000 and manifest["seed"] == 2
    assert [s["samples"] for s in manifest["shards"]] == [334, 333, 333]  # 1000 = 334 + 2 * 333
    assert sorted(os.listdir(shards)) == sorted(
        ["manifest.json", *(s["file"] for s in manifest["shards"])]
    )


def test_blocks_span_records(tmp_path):
    """More samples than one record (BLOCK): batches cross record and shard boundaries."""
    folder = str(tmp_path / "big")
    count = stream.BLOCK * 2 + 5  # two full records and a short one
    stream.write_shards(folder, count, num_shards=2, seed=0)
    sizes = [int(x.shape[0]) for x, _ in stream.make_dataset(folder, 3000)]
    assert sizes == [3000] * 2 + [count - 6000]  # 8197 = 2 * 3000 + 2197
    x, _ = stream.read_all(folder)
    assert np.array_equal(x, data.sine_data(count, seed=0)[0])


def model64():
    return mlp((4,), "tanh", 1, 1, "linear", 0, "float64")


@pytest.mark.parametrize("batch_size", [64, 1000], ids=["minibatch", "batch"])
def test_streaming_with_shuffle_off_equals_training_in_memory(shards, batch_size):
    x, y = stream.read_all(shards)
    loss = keras.losses.MeanSquaredError(dtype="float64")
    in_memory = model64()
    gd = GradientDescent(in_memory, loss, x, y, batch_size, 0.1, shuffle=False)
    memory_stats = gd.run(3)
    streamed = model64()
    loop = distribute.DistributedGradientDescent(
        distribute.get_strategy("none"),
        streamed,
        loss,
        batch_size=batch_size,
        learning_rate=0.1,
        shuffle=False,
        dataset_fn=lambda epoch: stream.make_dataset(shards, batch_size),
        num_samples=1000,
    )
    stream_stats = loop.run(3)
    assert max_difference(in_memory.get_weights(), streamed.get_weights()) < 1e-12  # float64
    np.testing.assert_allclose(stream_stats.loss, memory_stats.loss, rtol=1e-12)
    assert int(loop.step.numpy()) == int(gd.step.numpy()) == 3 * -(-1000 // batch_size)
    assert abs(loop.evaluate() - gd.evaluate()) < 1e-12
    assert loop.tracing_count == 1  # a new dataset each epoch, traced once
    assert max_difference(streamed.get_weights(), model64().get_weights()) > 1e-3  # it moved


def test_shuffled_stream_is_a_seeded_permutation_per_epoch(shards):
    def epoch_x(seed, epoch):
        dataset = stream.make_dataset(shards, 100, shuffle=True, seed=seed, epoch=epoch)
        return np.concatenate([x.numpy() for x, _ in dataset])[:, 0]

    first, again, second = epoch_x(0, 0), epoch_x(0, 0), epoch_x(0, 1)
    all_x = np.sort(stream.read_all(shards)[0][:, 0])
    assert np.array_equal(np.sort(first), all_x)  # every sample once
    assert np.array_equal(first, again)  # seeded by (seed, epoch): a resumed run sees it again
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, stream.read_all(shards)[0][:, 0])  # really shuffled


def test_train_cli_streams_and_matches_memory(shards, tmp_path):
    """--data through train_and_evaluate (single device) equals the in-memory loop."""
    from keras_lab.run import TrainConfig, train_and_evaluate

    common = dict(
        variant="minibatch",
        batch_size=100,
        hidden=(4,),
        activation="tanh",
        lr=0.1,
        epochs=3,
        dtype="float64",
        shuffle=False,
        plots=False,
        tensorboard=False,
        jit=False,
    )
    streamed = train_and_evaluate(
        TrainConfig(data=shards, **common), run_dir=str(tmp_path / "s"), progress=False
    )
    x, y = stream.read_all(shards)
    model = mlp((4,), "tanh", 1, 1, "linear", 0, "float64")
    GradientDescent(model, "mse", x, y, 100, 0.1, shuffle=False).run(3)
    expected = get_lecture_weights(model)
    assert (
        max_difference(
            [w for layer in streamed.weights for w in layer],
            [w for layer in expected for w in layer],
        )
        < 1e-12
    )  # float64, the same steps in the same order
    sse = float(np.sum((y - np.asarray(model(x))) ** 2))
    assert abs(streamed.sse - sse) < 1e-9  # the SSE streamed too


BAD_WRITES = [
    (["write", "--samples", "0", "--out", "OUT"], "samples must be an integer >= 1, got 0"),
    (["write", "--samples", "5"], "the following arguments are required: --out"),
    (["write", "--samples", "5", "--out", "OUT", "--shards", "0"], "shards must be an integer"),
]


@pytest.mark.parametrize("args, message", BAD_WRITES, ids=["samples", "out", "shards"])
def test_data_write_bad_flags_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    with pytest.raises(SystemExit) as exit_info:
        data.main(args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert os.listdir(tmp_path) == []


def test_data_write_cli(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert data.main(["write", "--samples", "10", "--out", out, "--shards", "2", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["samples"] == 10 and len(manifest["shards"]) == 2
    with pytest.raises(SystemExit) as exit_info:  # refuses to overwrite
        data.main(["write", "--samples", "10", "--out", out])
    assert exit_info.value.code == 2
    assert "is not an empty directory" in capsys.readouterr().err
