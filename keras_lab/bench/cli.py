"""``python -m keras_lab.bench``: how fast our training loop and our losses are, measured.

Every workload times ours against its baselines in the same process, several times,
interleaved (ours, baseline, ours, ...) so that a load spike hits both, and reports the
MEDIAN time and the RATIO baseline/ours (> 1: ours is faster), or ours/baseline for losses:

    w1  stochastic GD on the lecture's network and 9 points (keras_lab.bench.workloads)
    w2  mini-batch GD, one epoch of a 1-64-64-1 MLP on 2**20 samples
    w3  every custom loss vs keras.losses (keras_lab.bench.losses)
    w4  K = 256 starts at once vs one run
    w5  whole ``python -m keras_lab.train`` processes vs importing TensorFlow

With JAX installed (the ``bench`` extra), w1 and w2 also run the JAX peer
(:mod:`keras_lab.bench.jax_peer`) and our XLA loop timed the same way, each in a fresh
process per round (:func:`keras_lab.bench.timing.own_process`).

Targets (reported, never asserted): w1 >= 100x faster than fit per step and no slower than
the numpy listing, within 1.5x of JAX's time, compiled in < 1 s; w2 >= 10x fit, within 1.1x
of JAX; w3 no loss > 5% slower than Keras in the same mode, the fused (XLA) path within 2x
of the memory floor; w4 K = 256 starts cost < 20x one run (steady state); w5 the default
run within 1.3x of importing TensorFlow, TensorBoard adding at most 20%.

--quick: tiny sizes, w3 compiles two losses only (every loss is still timed eager; the
JSON's "modes_skipped" lists what was left out), no JAX, no w5: checks that everything
runs; its timings mean nothing.

Exit codes: 0 done; 2 bad flags (one line on stderr).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_lab import checks
from keras_lab._cli import OneLineErrorParser, add_flags, import_tensorflow, parse_settings
from keras_lab.bench import losses, workloads
from keras_lab.config import setting

#: The workloads by their short name (the JSON's keys and --workloads' values).
WORKLOADS: dict[str, Callable[[bool, int], dict[str, Any]]] = {
    "w1": workloads.sgd_lecture,
    "w2": workloads.minibatch_mlp,
    "w3": losses.loss_functions,
    "w4": workloads.k_starts,
    "w5": workloads.whole_processes,
}


@dataclass(frozen=True)
class BenchSettings:
    """What to run, and how often."""

    workloads: str = setting(
        ",".join(WORKLOADS),
        "comma-separated subset: w1 SGD on the lecture's net, w2 mini-batch MLP, "
        "w3 losses, w4 K starts, w5 whole train processes",
    )
    quick: bool = setting(
        False, "tiny sizes, w3 compiled for 2 losses only: a smoke run whose timings mean nothing"
    )
    repeats: int | None = setting(None, "timed repetitions; none: 5, or 3 with --quick")

    def __post_init__(self) -> None:
        names = self.chosen()
        checks.require(
            bool(names) and all(name in WORKLOADS for name in names),
            f"--workloads must be a comma-separated subset of {','.join(WORKLOADS)}, "
            f"got {self.workloads!r}",
        )
        if self.repeats is not None:
            checks.integer("repeats", self.repeats, minimum=1)

    def chosen(self) -> list[str]:
        """The workloads named, in the order given, each once."""
        parts = (part.strip().lower() for part in self.workloads.split(","))
        return list(dict.fromkeys(part for part in parts if part))


# ----------------------------------------------------------------------------- reporting
def all_ratios(result: dict[str, Any]) -> list[tuple[str, float]]:
    """Every ratio in a result, as (dotted path, value): what the tests check is finite.

    A ratio is any number under a key containing "over", or under "ratios" or
    "fraction_of_matmul".

    Example:
        >>> all_ratios({"w": {"ratios": {"a": 2.0}, "x_over_y": 0.5, "seconds": 3.0}})
        [('w.ratios.a', 2.0), ('w.x_over_y', 0.5)]
    """
    found: list[tuple[str, float]] = []

    def walk(value: Any, path: str, in_ratio: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                is_ratio = in_ratio or "over" in key or key in ("ratios", "fraction_of_matmul")
                walk(item, f"{path}.{key}" if path else key, is_ratio)
        elif in_ratio and isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append((path, float(value)))

    walk(result, "", False)
    return found


def format_text(result: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`run_benchmarks`'s result."""
    m = result["machine"]
    lines = [
        f"keras_lab.bench ({result['mode']}, repeats={result['repeats']}), "
        f"{result['started_utc']} to {result['finished_utc']}",
        f"   {m['cpu']}, {m['cpus']} CPUs; TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
        f"JAX {m['jax'] or 'not installed'}",
    ]
    w = result["workloads"]
    if "w1" in w:
        r = w["w1"]
        lines.append("w1 SGD, us per sample step (median): " + ", ".join(
            f"{k} {v:.1f}" for k, v in r["us_per_step"].items()))  # fmt: skip
        lines.append("   compile s: " + ", ".join(
            f"{k} {v:.2f}" for k, v in r["compile_seconds"].items()))  # fmt: skip
    if "w2" in w:
        r = w["w2"]
        lines.append("w2 mini-batch, samples/s (median): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in r["samples_per_second"].items()))  # fmt: skip
        lines.append(
            f"   matmul {r['matmul_gflops']:.1f} GFLOP/s; loop fraction "
            + ", ".join(f"{k} {v:.3f}" for k, v in r["fraction_of_matmul"].items())
            + f" (FLOPs/sample = {r['flops_per_sample_formula']})"
        )
    if "w3" in w:
        r = w["w3"]
        lines.append(
            f"w3 losses, ours/keras median time ({r['elements']} elements; "
            f"floor {1e3 * r['floor_seconds']:.2f} ms):"
        )
        for name, entry in r["losses"].items():
            cells = " ".join(f"{m} {v:.2f}" for m, v in entry["ours_over_keras"].items())
            floor = entry.get("ours_xla_over_floor")
            extra = f"  xla/floor {floor:.2f}" if floor is not None else ""
            lines.append(f"   {name:34s} {cells}{extra}")
    if "w5" in w and "median_seconds" in w["w5"]:
        lines.append("w5 whole processes, median s: " + ", ".join(
            f"{k} {v:.2f}" for k, v in w["w5"]["median_seconds"].items()))  # fmt: skip
    if "w4" in w:
        r = w["w4"]
        lines.append(
            f"w4 K starts, {r['starts']} starts vs one run, {r['epochs']} epochs (median s): "
            + ", ".join(f"{k} {v:.3f}" for k, v in r["seconds_median"].items())
        )
    for key, entry in w.items():
        for name, value in entry.get("ratios", {}).items():
            lines.append(f"{key} ratio {name}: {value:.2f}")
        for name, met in entry["targets"].items():
            lines.append(f"{key} target {name}: {'met' if met else 'MISSED'}")
        if "peak_rss_mb" in entry:
            lines.append(f"{key} peak RSS so far: {entry['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


def run_benchmarks(
    names: Sequence[str] = tuple(WORKLOADS), quick: bool = False, repeats: int = 5
) -> dict[str, Any]:
    """Run the chosen workloads; returns one JSON-serializable dict."""
    import keras
    import tensorflow as tf

    started_utc = _utc_now()
    started = time.perf_counter()
    results = {name: WORKLOADS[name](quick, repeats) for name in names}
    return {
        "mode": "quick" if quick else "full",
        "repeats": repeats,
        "started_utc": started_utc,
        "finished_utc": _utc_now(),
        "machine": {
            "cpu": _cpu_model(),
            "cpus": _cpu_count(),
            "system": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "jax": _installed_version("jax"),
        },
        "workloads": results,
        "total_seconds": time.perf_counter() - started,
    }


def _utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second (e.g. 2026-12-02T01:39:00Z)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else platform.processor(), else
    "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _installed_version(package: str) -> str | None:
    """``package``'s installed version, without importing it; None when not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ----------------------------------------------------------------------------- CLI
def build_parser() -> OneLineErrorParser:
    """The command line of ``python -m keras_lab.bench``: one flag per BenchSettings field."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.bench",
        description=__doc__.split("\n\n")[0],
        epilog="Timings are medians; ratios > 1 mean ours is faster, except w3's ours/keras.",
    )
    add_flags(parser, BenchSettings)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse flags, run, print text or one JSON object."""
    settings, args = parse_settings(build_parser(), BenchSettings, argv)  # before TensorFlow
    import_tensorflow()
    repeats = settings.repeats or (3 if settings.quick else 5)
    result = run_benchmarks(settings.chosen(), quick=settings.quick, repeats=repeats)
    bad = [path for path, value in all_ratios(result) if not math.isfinite(value)]
    print(json.dumps(result, allow_nan=True) if args.json else format_text(result))
    if bad:
        print(f"warning: non-finite ratios: {', '.join(bad)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
