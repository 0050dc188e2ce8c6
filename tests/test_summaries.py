"""keras_lab.engine.summaries: what reaches the event files, read back with TF's event reader."""

from __future__ import annotations

import glob

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_lab.engine import summaries  # noqa: E402


def events(logdir: str) -> list[tuple[str, int, float, str]]:
    """Every summary value in ``logdir``: (tag, step, value, plugin name), in order."""
    rows = []
    for path in sorted(glob.glob(f"{logdir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = tf.make_ndarray(value.tensor)
                assert number.dtype == np.float32 and number.shape == ()
                plugin = value.metadata.plugin_data.plugin_name
                rows.append((value.tag, event.step, float(number), plugin))
    return rows


@pytest.mark.parametrize("rows", [1, summaries.EAGER_ROWS, summaries.EAGER_ROWS + 1, 40])
def test_eager_and_compiled_epoch_writes_give_the_same_events(tmp_path, monkeypatch, rows):
    """Few epochs are written eagerly, many by one compiled call: the events are the same
    (tags, steps, float32 values, the scalar plugin's metadata), whichever path runs, and
    hold the inputs rounded to float32 (numpy as the oracle)."""
    rng = np.random.default_rng(rows)
    loss, lr, norm = (rng.standard_normal(rows) for _ in range(3))
    written = {}
    for path, limit in (("eager", 10**9), ("compiled", 0)):
        monkeypatch.setattr(summaries, "EAGER_ROWS", limit)
        writer = summaries.SummaryWriter(str(tmp_path / path))
        writer.epochs(5, loss, lr, norm)
        writer.close()
        written[path] = events(str(tmp_path / path))
    assert written["eager"] == written["compiled"]
    expected = [
        (tag, 5 + i, float(np.float32(column[i])), "scalars")
        for i in range(rows)
        for tag, column in zip(summaries.SCALAR_TAGS, (loss, lr, norm))
    ]
    assert written["eager"] == expected
