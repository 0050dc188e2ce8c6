"""Streaming from disk vs training in memory: peak resident memory and samples per second.

    python scripts/bench_stream.py                      # 10M and 50M samples (minutes)
    python scripts/bench_stream.py --shuffle --repeats 3
    python scripts/bench_stream.py --sizes 1000000 --json
    python scripts/bench_stream.py --sizes 2000000 --shuffle --repeats 3 \
        --baseline-code /tmp/old-checkout          # before/after: another keras_lab, interleaved

For each size: write the sine set as shards into a temporary directory
(``python -m keras_lab.stream write``), then in a fresh process stream one epoch of
mini-batch GD from the shards (``GradientDescent`` with ``StreamedBatches``; shuffle off
unless ``--shuffle``) and report that process's peak RSS (``ru_maxrss``). The in-memory
loop (``GradientDescent``, XLA as train.py's default, the same shuffle setting) runs one
epoch of the smallest size in its own process for the samples-per-second comparison. Both
time one epoch after a warm-up that traces (and compiles) the epoch function: a whole epoch
in memory, one batch streamed (the measured epoch is the stream's epoch 1).

``--repeats N`` runs every measurement N times, interleaved (round r: each size streamed,
then the in-memory loop), and reports the medians, so a shared machine's load falls on all
of them alike. ``--baseline-code DIR`` also streams each size with the ``keras_lab`` package
in DIR (e.g. ``git archive`` of an older commit unpacked there) right after the current
code, for a before/after on the same files and the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(args: argparse.Namespace) -> dict:
    """Runs in the measured process: one epoch, then the numbers."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from keras_lab.data import sine_data
    from keras_lab.engine import stream
    from keras_lab.engine.loop import GradientDescent
    from keras_lab.models import sine_fit_model

    model = sine_fit_model(seed=0)
    if args.child == "stream":
        samples = stream.read_manifest(args.data)["samples"]
        warm_up = [True]

        class WarmUpFirst(stream.StreamedBatches):
            def dataset(self, epoch: int, batch_size: int | None = None) -> tf.data.Dataset:
                dataset = super().dataset(epoch, batch_size)
                return dataset.take(1) if warm_up[0] else dataset

        loop = GradientDescent(
            model,
            "mse",
            batch_size=args.batch_size,
            learning_rate=0.01,
            batches=WarmUpFirst(args.data, args.batch_size, shuffle=args.shuffle),
        )
        loop.run(1)  # warm-up on one batch: the epoch function's one tracing
        warm_up[0] = False
    else:
        samples = args.samples
        x, y = sine_data(samples, seed=0)
        loop = GradientDescent(
            model,
            "mse",
            x,
            y,
            batch_size=args.batch_size,
            learning_rate=0.01,
            shuffle=args.shuffle,
            jit_compile=True,
        )
        loop.run(1)  # warm-up: tracing and XLA compilation
        del x, y
    started = time.perf_counter()
    stats = loop.run(1)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {
        "mode": args.child,
        "samples": samples,
        "batch_size": args.batch_size,
        "shuffle": bool(args.shuffle),
        "seconds": seconds,
        "samples_per_second": samples / seconds,
        "peak_rss_mb": peak_kb / 1024,
        "loss": float(stats.loss[-1]),
    }


def run_child(*flags: str, code: str = REPO) -> dict:
    """This script in a fresh process, importing keras_lab from ``code``."""
    env = dict(os.environ, PYTHONPATH=code, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *flags],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--shuffle", action="store_true", help="stream through a shuffle buffer")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measurement")
    parser.add_argument(
        "--baseline-code", help="a directory holding another keras_lab: stream with it too"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("stream", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    shuffle = ["--shuffle"] if args.shuffle else []
    codes = {"current": REPO}
    if args.baseline_code:
        codes["baseline"] = os.path.abspath(args.baseline_code)
    runs: dict[tuple[str, int], list[dict]] = {}
    memory_runs: list[dict] = []
    written = {}
    root = tempfile.mkdtemp(prefix="bench-stream-")
    try:
        for size in args.sizes:
            folder = os.path.join(root, f"sine-{size}")
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "keras_lab.stream", "write", "--samples", str(size),
                 "--out", folder, "--shards", str(args.shards)],
                env=dict(os.environ, PYTHONPATH=REPO),
                check=True,
                capture_output=True,
            )  # fmt: skip
            written[size] = {
                "folder": folder,
                "write_seconds": time.perf_counter() - started,
                "disk_mb": sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
                / 2**20,
            }
        for _ in range(args.repeats):
            for size in args.sizes:
                for name, code in codes.items():
                    flags = ["--child", "stream", "--data", written[size]["folder"]]
                    row = run_child(
                        *flags, "--batch-size", str(args.batch_size), *shuffle, code=code
                    )
                    row["code"] = name
                    runs.setdefault((name, size), []).append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
            memory = run_child(
                "--child", "memory", "--samples", str(min(args.sizes)),
                "--batch-size", str(args.batch_size), *shuffle,
            )  # fmt: skip
            memory_runs.append(memory)
            print(json.dumps(memory), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def median_row(rows: list[dict]) -> dict:
        row = dict(rows[0])
        for key in ("seconds", "samples_per_second", "peak_rss_mb"):
            row[key] = statistics.median(r[key] for r in rows)
            row[f"{key}_all"] = [r[key] for r in rows]
        return row

    summary: dict = {"repeats": args.repeats, "shuffle": bool(args.shuffle)}
    memory = summary["in_memory"] = median_row(memory_runs)
    for name in codes:
        rows = [median_row(runs[name, size]) | written[size] for size in args.sizes]
        for row in rows:
            del row["folder"]
        peaks = [row["peak_rss_mb"] for row in rows]
        summary["streamed" if name == "current" else "baseline"] = rows
        summary[f"{name}_peak_rss_ratio_largest_to_smallest"] = peaks[-1] / peaks[0]
        summary[f"{name}_vs_memory_samples_per_second"] = (
            rows[0]["samples_per_second"] / memory["samples_per_second"]
        )
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"medians of {args.repeats} run(s), shuffle {'on' if args.shuffle else 'off'}")
    for name in codes:
        for row in summary["streamed" if name == "current" else "baseline"]:
            print(
                f"{name:>8} streamed {row['samples']:>11,d} samples ({row['disk_mb']:.0f} MB "
                f"on disk): peak RSS {row['peak_rss_mb']:.0f} MB, "
                f"{row['samples_per_second']:,.0f} samples/s ({row['seconds']:.1f} s)"
            )
        print(
            f"{name:>8} peak RSS ratio "
            f"{summary[f'{name}_peak_rss_ratio_largest_to_smallest']:.3f}; streamed / "
            f"in-memory samples/s {summary[f'{name}_vs_memory_samples_per_second']:.3f}"
        )
    print(
        f"in memory {memory['samples']:>10,d} samples: peak RSS "
        f"{memory['peak_rss_mb']:.0f} MB, {memory['samples_per_second']:,.0f} samples/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
