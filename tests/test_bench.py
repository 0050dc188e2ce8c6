"""python -m keras_lab.bench: the --quick --json smoke run has the documented shape.

No test asserts a timing: this 2-core machine is shared and loaded. The tests check that
every workload ran, every ratio is a finite positive number, and the error contract.

The --quick run is main() called in this process (stdout captured), not a subprocess: the
subprocess paid ~8 s of importing TensorFlow again (measured: 25 s against 17 s in-process). The
bad-flag tests still run the real command line (they exit before TensorFlow is imported).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import io
import json
import math

import pytest
from conftest import run_cli

from keras_lab.bench import all_ratios, losses, timing, workloads
from keras_lab.bench import cli as bench


@pytest.fixture(scope="module")
def quick_result() -> dict:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert bench.main(["--quick", "--json"]) == 0
    return json.loads(stdout.getvalue())  # one JSON object, nothing else on stdout


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_top_level_shape(quick_result):
    assert quick_result["mode"] == "quick"
    assert quick_result["repeats"] == 3  # --quick's default
    assert set(quick_result["workloads"]) == {"w1", "w2", "w3", "w4", "w5"}
    assert quick_result["workloads"]["w5"]["skipped"].startswith("--quick")
    for name, workload in quick_result["workloads"].items():
        if name == "w5":
            continue
        assert isinstance(workload["targets"], dict) and workload["targets"]
        assert all(isinstance(met, bool) for met in workload["targets"].values())
        assert workload["peak_rss_mb"] > 0


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_the_json_says_when_and_on_what_machine(quick_result):
    """The date (UTC, to the second) brackets the run, and the machine is described: the
    CPU as /proc/cpuinfo or platform names it, the versions as the packages report them."""
    import platform

    import keras
    import numpy as np
    import tensorflow as tf

    def parse(text: str) -> datetime.datetime:
        when = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        return when.replace(tzinfo=datetime.timezone.utc)

    started, finished = parse(quick_result["started_utc"]), parse(quick_result["finished_utc"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert started <= finished <= now
    assert (finished - started).total_seconds() <= quick_result["total_seconds"] + 1
    machine = quick_result["machine"]
    assert machine["cpu"] and machine["cpu"] != "unknown"
    if platform.system() == "Linux":
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            assert f": {machine['cpu']}" in cpuinfo.read()
    assert machine["cpus"] >= 1
    assert machine["system"] == platform.platform()
    assert (machine["python"], machine["numpy"]) == (platform.python_version(), np.__version__)
    assert (machine["tensorflow"], machine["keras"]) == (tf.__version__, keras.__version__)
    jax_spec = importlib.util.find_spec("jax")
    assert (machine["jax"] is None) == (jax_spec is None)


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_w1_shape(quick_result):
    w1 = quick_result["workloads"]["w1"]
    # the lecture's listing as printed and train_sgd are two baselines, each named as it is;
    # JAX runs in its own process in full runs only
    runners = {"ours_jit", "ours_nojit", "fit", "listing", "train_sgd"}
    assert set(w1["us_per_step"]) == runners
    assert set(w1["median_seconds"]) == runners
    assert set(w1["compile_seconds"]) == {"xla_runtime_start", "ours_jit", "ours_nojit"}
    assert set(w1["ratios"]) == {
        f"{name}_over_ours_{mode}"
        for name in ("fit", "listing", "train_sgd")
        for mode in ("jit", "nojit")
    }
    assert w1["jax"] == "skipped (--quick)"
    assert all(v > 0 for v in w1["us_per_step"].values())


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_w2_shape(quick_result):
    w2 = quick_result["workloads"]["w2"]
    assert set(w2["samples_per_second"]) == {"ours_jit", "ours_nojit", "fit"}
    assert w2["flops_per_sample"] == 3 * 2 * (1 * 64 + 64 * 64 + 64 * 1)  # the stated formula
    assert w2["flops_per_sample_formula"] == "3 * 2 * (1*64 + 64*64 + 64*1)"
    assert w2["matmul_gflops"] > 0
    assert set(w2["ratios"]) == {"ours_jit_over_fit", "ours_nojit_over_fit"}
    assert w2["jax"] == "skipped (--quick)" and set(w2["targets"]) == {"ours_over_fit>=10"}


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_w3_covers_every_custom_loss(quick_result):
    from custom_losses import registry

    w3 = quick_result["workloads"]["w3"]
    assert set(w3["losses"]) == set(registry.FUNCTIONS) - set(losses.NOT_ROWWISE)
    for name, entry in w3["losses"].items():
        # every loss eager; --quick compiles only losses.QUICK_COMPILED, and says so
        skipped = set(w3["modes_skipped"].get(name, []))
        assert set(entry["ours_over_keras"]) == {"eager", "function", "xla"} - skipped, name
        assert set(entry["median_seconds"]) == set(entry["ours_over_keras"]), name
        assert skipped == (set() if name in losses.QUICK_COMPILED else {"function", "xla"})
    assert "ours_xla_over_floor" in w3["losses"]["mean_absolute_error"]  # a floor loss compiled
    assert w3["floor_seconds"] > 0


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_w4_shape(quick_result):
    w4 = quick_result["workloads"]["w4"]
    assert (w4["starts"], w4["epochs"]) == (workloads.STARTS_QUICK, workloads.STARTS_EPOCHS_QUICK)
    assert w4["jit"] is False  # --quick skips the XLA compiles
    runners = {"single", "shared", "per_start"}
    assert set(w4["seconds_median"]) == runners | {f"{n}_warm" for n in runners}
    assert set(w4["ratios"]) == {
        "kstart_over_single_first_call",
        "kstart_over_single_steady",
        "kstart_own_shuffle_over_single_steady",
    }


@pytest.mark.slow  # one --quick run (~15 s), shared by the module
def test_every_ratio_is_finite_and_positive(quick_result):
    ratios = all_ratios(quick_result)
    w3_modes = sum(
        len(e["ours_over_keras"]) for e in quick_result["workloads"]["w3"]["losses"].values()
    )
    w3_losses = len(quick_result["workloads"]["w3"]["losses"])
    assert w3_modes == w3_losses + 2 * 2  # every loss eager; two of them in tf.function and XLA too
    # w1, w2, w2 fractions, w3 per loss and mode, w4 (first call, steady, own shuffle)
    assert len(ratios) >= 4 + 2 + 3 + w3_modes + 3
    bad = [(path, value) for path, value in ratios if not (math.isfinite(value) and value > 0)]
    assert not bad


@pytest.mark.parametrize("flags", [("--repeats", "0"), ("--workloads", "w9"), ("--no-such-flag",)])
def test_bad_flag_exits_2_with_one_stderr_line(flags):
    result = run_cli("keras_lab.bench", *flags)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr


@pytest.mark.slow  # a fresh process: TensorFlow's import and one XLA compile (~10 s)
def test_own_process_times_our_loop_in_a_fresh_process():
    """The like-for-like runner: the function's JSON comes back from its own process, and a
    failure there is an error naming the function, not a number."""
    result = timing.own_process("w2_warm_median", 1024, False, 1)
    assert set(result) == {"warm_median_s"} and 0 < result["warm_median_s"] < 60
    with pytest.raises(RuntimeError, match="no_such_workload in its own process failed"):
        timing.own_process("no_such_workload")


def _w2_weights(num_samples: int = 2048, epochs: int = 2) -> list:
    """A small w2 (the bench's loop: the 1-64-64-1 MLP, batch 256, shuffled, XLA): its
    weights after ``epochs`` epochs (0: the start), as nested lists of float32 values."""
    x, y = workloads.mlp_data(num_samples)
    loop = workloads.mlp_loop(x, y, shuffle=True, jit_compile=True)
    if epochs:
        loop.run(epochs)
    return [w.tolist() for w in loop.model.get_weights()]


@pytest.mark.slow  # a fresh process: TensorFlow's import and one XLA compile (~10 s)
def test_one_intra_op_thread_gives_the_same_weights_bit_for_bit():
    """The bench times our XLA loop in a process with one intra-op thread; the claim that
    it trains the very same weights is checked against this process (TensorFlow's default
    threads), bit for bit."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    code = "import json, test_bench as t; print(json.dumps(t._w2_weights()))"
    env = dict(
        os.environ,
        TF_NUM_INTRAOP_THREADS="1",
        PYTHONPATH=os.pathsep.join([os.path.join(REPO, "tests"), REPO]),
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-500:]
    one_thread = json.loads(done.stdout.strip().splitlines()[-1])
    default = _w2_weights()
    assert one_thread == default  # JSON floats round-trip float32 values exactly
    assert default != _w2_weights(epochs=0)  # it trained
