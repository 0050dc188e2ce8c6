"""keras_lab.stream and `python -m keras_lab.stream write`: shards on disk, streamed like memory."""

import json
import os

import keras
import numpy as np
import pytest

from keras_lab import data
from keras_lab import stream as stream_cli
from keras_lab.engine import stream
from keras_lab.engine.loop import GradientDescent
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
    sizes, shuffled = epoch_x(folder, 0, 0, batch_size=3000, buffer_size=1000)
    assert sizes == [3000] * 2 + [count - 6000]  # shuffled: the same batch sizes
    assert np.array_equal(np.sort(shuffled), np.sort(x[:, 0]))  # each sample once
    assert np.mean(shuffled != x[:, 0]) > 0.9


def model64():
    return mlp((4,), "tanh", 1, 1, "linear", 0, "float64")


@pytest.mark.parametrize("batch_size", [64, 1000], ids=["minibatch", "batch"])
def test_streaming_with_shuffle_off_equals_training_in_memory(shards, batch_size):
    x, y = stream.read_all(shards)
    loss = keras.losses.MeanSquaredError(dtype="float64")
    in_memory = model64()
    gd = GradientDescent(
        in_memory, loss, x, y, batch_size=batch_size, learning_rate=0.1, shuffle=False
    )
    memory_stats = gd.run(3)
    streamed = model64()
    loop = GradientDescent(
        streamed,
        loss,
        batch_size=batch_size,
        learning_rate=0.1,
        shuffle=False,
        batches=stream.StreamedBatches(shards, batch_size, shuffle=False),
    )
    stream_stats = loop.run(3)
    assert max_difference(in_memory.get_weights(), streamed.get_weights()) < 1e-12  # float64
    np.testing.assert_allclose(stream_stats.loss, memory_stats.loss, rtol=1e-12)
    assert int(loop.step.numpy()) == int(gd.step.numpy()) == 3 * -(-1000 // batch_size)
    assert abs(loop.evaluate() - gd.evaluate()) < 1e-12
    assert loop.tracing_count == 1  # a new dataset each epoch, traced once
    assert max_difference(streamed.get_weights(), model64().get_weights()) > 1e-3  # it moved


def epoch_x(folder, seed, epoch, batch_size=64, buffer_size=100, drop_remainder=False):
    """One shuffled epoch: the batch sizes and the inputs x in the order they come."""
    dataset = stream.make_dataset(
        folder,
        batch_size,
        shuffle=True,
        seed=seed,
        epoch=epoch,
        buffer_size=buffer_size,
        drop_remainder=drop_remainder,
    )
    xs = [x.numpy()[:, 0] for x, _ in dataset]
    return [len(x) for x in xs], np.concatenate(xs)


def test_shuffled_stream_is_a_seeded_permutation_per_epoch(shards):
    """buffer_size 100 (10 windows of the 1000 samples), batch 64 (batches span windows)."""
    written = stream.read_all(shards)[0][:, 0]
    sizes, first = epoch_x(shards, 0, 0)
    assert sizes == [64] * 15 + [40]  # 1000 = 15 * 64 + 40: only the last batch is short
    assert np.array_equal(np.sort(first), np.sort(written))  # every sample exactly once
    assert np.array_equal(epoch_x(shards, 0, 0)[1], first)  # (seed, epoch) fixes the order
    others = [epoch_x(shards, 0, 1)[1], epoch_x(shards, 1, 0)[1]]  # next epoch, other seed
    for other in others:
        assert np.array_equal(np.sort(other), np.sort(written))
        assert np.mean(other != first) > 0.9  # a different order, not a few swaps
    # bounded: window k (outputs 100k..100k+99) permutes samples 100k..100k+99 of the files
    # read in their seeded order (each of the 3 shards is one record, so no interleaving)
    counts = [334, 333, 333]  # the fixture's shards
    starts = np.cumsum([0, *counts])
    read = np.concatenate(
        [written[starts[i] : starts[i + 1]] for i in stream.file_order(3, seed=0, epoch=0)]
    )
    for k in range(10):
        window = slice(100 * k, 100 * (k + 1))
        assert np.array_equal(np.sort(first[window]), np.sort(read[window]))
        assert not np.array_equal(first[window], read[window])  # and really permuted


def test_shuffled_stream_drops_the_short_last_batch_if_asked(shards):
    sizes, x = epoch_x(shards, 0, 0, drop_remainder=True)
    assert sizes == [64] * 15  # the last 40 of 1000 dropped
    assert np.array_equal(x, epoch_x(shards, 0, 0)[1][:960])  # the same order, cut short


def test_train_cli_streams_and_matches_memory(shards, tmp_path):
    """--data through train_and_evaluate (single device) equals the in-memory loop."""
    from keras_lab.pipeline import TrainConfig, train_and_evaluate

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
    GradientDescent(model, "mse", x, y, batch_size=100, learning_rate=0.1, shuffle=False).run(3)
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
        stream_cli.main(args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert os.listdir(tmp_path) == []


def test_data_write_cli(tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = ["write", "--samples", "10", "--out", out, "--shards", "2", "--json"]
    assert stream_cli.main(argv) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["samples"] == 10 and len(manifest["shards"]) == 2
    with pytest.raises(SystemExit) as exit_info:  # refuses to overwrite
        stream_cli.main(["write", "--samples", "10", "--out", out])
    assert exit_info.value.code == 2
    assert "is not an empty directory" in capsys.readouterr().err


def test_resumed_shuffled_streamed_run_equals_the_uninterrupted_run(shards, tmp_path):
    """A shuffled --data run cut back to its epoch-1 checkpoint (as if killed after it) and
    resumed ends bit for bit where the uninterrupted run ends: epoch 2 streams in the same
    (seed, epoch) order, so the same float64 steps run in the same order. (Two epochs, not
    more: each run costs 2-3 s here, mostly tracing; more epochs test nothing new.)"""
    import shutil

    from keras_lab.pipeline import TrainConfig, train_and_evaluate

    config = TrainConfig(
        data=shards,
        variant="minibatch",
        batch_size=100,
        hidden=(4,),
        activation="tanh",
        lr=0.1,
        epochs=2,
        dtype="float64",
        shuffle=True,
        seed=7,
        checkpoint_every=1,
        plots=False,
        tensorboard=False,
        jit=False,
    )
    straight = train_and_evaluate(config, run_dir=str(tmp_path / "straight"), progress=False)
    cut = tmp_path / "cut"
    shutil.copytree(tmp_path / "straight", cut)
    checkpoints = cut / "checkpoints"
    for name in os.listdir(checkpoints):
        if name.startswith("ckpt-2"):
            os.remove(checkpoints / name)
    (checkpoints / "checkpoint").write_text(  # latest: ckpt-1, as after a kill in epoch 2
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    )
    os.remove(cut / "result.json")
    resumed = train_and_evaluate(config, run_dir=str(cut), resume=True, progress=False)
    flat = [w for layer in straight.weights for w in layer]
    assert all(  # bit for bit
        np.array_equal(a, b) for a, b in zip([w for la in resumed.weights for w in la], flat)
    )
    assert resumed.history == straight.history and len(straight.history) == 2
