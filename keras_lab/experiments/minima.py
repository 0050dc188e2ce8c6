"""Local minima shown: a problem where the sine-fit network has more than one basin.

On the lecture's own problem every start of every variant ends in the same basin
(:mod:`keras_lab.experiments.multistart`). Here the 1-h-1 network (sigmoid hidden, linear
output, MSE, the listing's uniform [0, 1) starts) with one hidden unit fits a V, t = |p|, on
the lecture's inputs. One monotone sigmoid cannot follow both arms, and batch GD ends in one
of two minima depending on the start (measured in docs/compare.md):

    one arm fitted (a sigmoid step)   SSE 2.71124 (converged, 252,000 batch epochs)
    a flat line at the mean of |p|    SSE 3.88889 = sum (t - mean t)^2: the slope w -> 0,
                                      where its gradient is 0 by the V's symmetry

:func:`run_local_minima` trains the SAME K starts with each variant at once
(:class:`~keras_lab.experiments.multistart.MultiStartGD`); stochastic and mini-batch GD
decay their learning rate to ``final_fraction`` of it over the run ("when we slowly
decrease the learning rate, SGD shows the same convergence behaviour as batch gradient
descent"). Every end point is then settled with batch GD, so that "which basin" means where
batch GD from there converges, and the settled losses are grouped into minima
(:func:`~keras_lab.experiments.multistart.cluster_values`).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
from matplotlib.figure import Figure

from keras_lab import checks
from keras_lab.config import DTYPES, VARIANTS, variant_batch_size
from keras_lab.data import LECTURE_P
from keras_lab.experiments.multistart import MultiStartGD, cluster_values, json_floats, settle
from keras_lab.lecture import backprop
from keras_lab.plots import VARIANT_STYLE


def v_data(dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    """The lecture's 9 inputs P = [-2, -1.5, ..., 2] with the V-shaped target t = |p|.

    Example:
        >>> x, y = v_data()
        >>> x.shape, y.ravel().tolist()
        ((9, 1), [2.0, 1.5, 1.0, 0.5, 0.0, 0.5, 1.0, 1.5, 2.0])
    """
    checks.one_of("dtype", dtype, DTYPES)
    x = np.asarray(LECTURE_P, dtype=dtype).reshape(-1, 1)
    return x, np.abs(x)


def run_local_minima(
    num_starts: int = 64,
    num_epochs: int = 4000,
    learning_rate: float = 0.3,
    batch_size: int = 3,
    hidden: int = 1,
    final_fraction: float = 0.01,
    settle_epochs: int = 4000,
    cluster_tolerance: float = 0.05,
    shuffle_seed: int = 0,
    dtype: str = "float64",
    jit_compile: bool = True,
) -> dict:
    """K starts per variant on :func:`v_data`, from the same K points; where each ends.

    Args:
        num_starts: K; start i is ``lecture_random_weights(i, (1, hidden, 1))``.
        num_epochs: epochs of every variant.
        learning_rate: eta_0 of every variant (batch GD keeps it).
        batch_size: the mini-batch size (of the 9 points).
        hidden: hidden units h of the 1-h-1 network.
        final_fraction: stochastic and mini-batch GD decay eta exponentially from eta_0
            to final_fraction * eta_0 over the run (1: constant, as batch GD).
        settle_epochs: batch-GD epochs at eta_0 after every variant, before measuring.
        cluster_tolerance: settled SSEs closer than this are the same minimum.
        shuffle_seed: every start and variant visits the samples in this seed's orders.
        dtype: "float32" or "float64".
        jit_compile: compile each run with XLA.

    Returns:
        A JSON-able dict: "settings"; "minima": the minima found, lowest first, each with
        its SSE (median, low, high), the largest relative fall of the loss over the last
        half of the settling epochs (converged: near 0), a start that ends there and the
        network's output on "grid"; "variants": per variant its batch size, final learning
        rate, SSE before and after settling, each start's minimum (index into "minima",
        -1: diverged), the count per minimum, and "moves" against batch GD (how many
        starts end in a lower / the same / a higher minimum than batch GD from the same
        start).
    """
    settings = {k: v for k, v in locals().items() if k != "jit_compile"}  # the arguments
    for name, value in (("num-starts", num_starts), ("num-epochs", num_epochs),
                        ("hidden", hidden), ("settle-epochs", settle_epochs)):  # fmt: skip
        checks.integer(name, value, minimum=1)
    checks.integer("shuffle-seed", shuffle_seed, minimum=0)
    x, y = v_data(dtype)
    checks.integer("batch-size", batch_size, minimum=1, maximum=len(x))
    checks.number("learning-rate", learning_rate, minimum=0, strict=True)
    checks.number("final-fraction", final_fraction, minimum=0, strict=True)
    checks.require(final_fraction <= 1, f"final-fraction must be at most 1, got {final_fraction}")
    checks.number("cluster-tolerance", cluster_tolerance, minimum=0)
    checks.one_of("dtype", dtype, DTYPES)

    runs = {}
    for variant in VARIANTS:
        size = variant_batch_size(variant, len(x), batch_size)
        fraction = 1.0 if variant == "batch" else final_fraction
        started = time.perf_counter()
        runner = MultiStartGD(  # the same K starts for every variant
            x, y, range(num_starts), size, learning_rate, shuffle_seed=shuffle_seed,
            hidden=hidden, dtype=dtype, jit_compile=jit_compile,
            schedule="constant" if fraction == 1 else "exponential",
            decay_rate=fraction,  # eta = eta_0 * final_fraction ** (step / steps)
            decay_steps=-(-len(x) // size) * num_epochs,  # updates in the whole run
        )  # fmt: skip
        before = runner.run(num_epochs).final_sse
        settled = settle(runner, settle_epochs, learning_rate, jit_compile, shuffle=True)
        loss = np.where(settled.failed[None, :], np.nan, settled.loss)
        half = loss[settle_epochs // 2]
        runs[variant] = {
            "runner": runner,
            "batch_size": size,
            "final_learning_rate": learning_rate * fraction,
            "sse_trained": before,
            "sse": np.where(np.isfinite(loss[-1]), settled.final_sse, np.nan),
            "fall": (half - loss[-1]) / np.maximum(loss[-1], 1e-300),
            "seconds": time.perf_counter() - started,
        }

    settled = np.concatenate([r["sse"] for r in runs.values()])
    clusters = cluster_values(settled, cluster_tolerance)
    uppers = np.array([c.high for c in clusters])

    def minimum_of(values: np.ndarray) -> np.ndarray:
        index = np.searchsorted(uppers, values)  # clusters are sorted and cover the values
        return np.where(np.isfinite(values), index, -1)

    grid = np.linspace(float(x.min()), float(x.max()), 81)
    minima = []
    for index, cluster in enumerate(clusters):
        falls, example = [], None
        for variant, r in runs.items():
            members = np.flatnonzero(minimum_of(r["sse"]) == index)
            falls += r["fall"][members].tolist()
            if example is None and members.size:
                example = (variant, int(members[0]))
        layers = runs[example[0]]["runner"].lecture_weights(example[1])
        output = backprop.predict(layers, ["sigmoid", "linear"], grid[None, :]).ravel()
        minima.append({
            **asdict(cluster),
            "largest_fall": float(np.max(falls)),
            "example": {"variant": example[0], "start": example[1]},
            "prediction": output.tolist(),
        })  # fmt: skip

    batch_minimum = minimum_of(runs["batch"]["sse"])
    variants = {}
    for variant, r in runs.items():
        where = minimum_of(r["sse"])
        both = (where >= 0) & (batch_minimum >= 0)
        variants[variant] = {
            "batch_size": r["batch_size"],
            "final_learning_rate": r["final_learning_rate"],
            "sse_trained": json_floats(r["sse_trained"]),
            "sse": json_floats(r["sse"]),
            "minimum": where.tolist(),
            "counts": [int(np.sum(where == i)) for i in range(len(clusters))],
            "diverged": int(np.sum(where < 0)),
            "moves": {
                "lower": int(np.sum(both & (where < batch_minimum))),
                "same": int(np.sum(both & (where == batch_minimum))),
                "higher": int(np.sum(both & (where > batch_minimum))),
            },
            "seconds": r["seconds"],
        }
    return {
        "problem": "t = |p| on the lecture's 9 inputs; 1-h-1 sigmoid/linear network, MSE",
        "x": x.ravel().tolist(),
        "y": y.ravel().tolist(),
        "grid": grid.tolist(),
        "settings": settings,
        "minima": minima,
        "variants": variants,
    }


def escape_claim(result: dict) -> dict:
    """The claim of local_minima.png: from the same starts, batch GD ends in more than one
    minimum, and stochastic and mini-batch GD end in the lowest minimum at least as often,
    never in a higher minimum than batch GD from the same start, none diverged.

    Example:
        >>> claim = escape_claim({"minima": [{}, {}], "variants": {
        ...     "batch": {"counts": [1, 3], "diverged": 0, "moves": {"higher": 0}},
        ...     "sgd": {"counts": [4, 0], "diverged": 0, "moves": {"higher": 0}}}})
        >>> claim["holds"], claim["lowest"]
        (True, {'batch': 1, 'sgd': 4})
    """
    variants = result["variants"]
    lowest = {v: r["counts"][0] for v, r in variants.items()}
    holds = len(result["minima"]) > 1 and "batch" in variants and len(variants) > 1
    holds = holds and sum(c > 0 for c in variants["batch"]["counts"]) > 1
    for variant, r in variants.items():
        if variant != "batch":
            holds = holds and r["moves"]["higher"] == 0 and lowest[variant] >= lowest["batch"]
        holds = holds and r["diverged"] == 0
    return {"lowest": lowest, "holds": bool(holds)}


def figure(result: dict) -> Figure:
    """Left: the 9 points and the network at each minimum; right: where each variant ends.
    The title states :func:`escape_claim` when it holds.

    Example:
        >>> result = {"x": [0.0, 1.0], "y": [0.0, 1.0], "grid": [0.0, 1.0], "settings": {
        ...     "num_starts": 2, "num_epochs": 1, "learning_rate": 0.5, "hidden": 1,
        ...     "final_fraction": 0.01, "settle_epochs": 1},
        ...     "minima": [{"value": 0.0, "prediction": [0.0, 1.0]}],
        ...     "variants": {"batch": {"counts": [2], "diverged": 0, "moves": {"higher": 0}}}}
        >>> [ax.get_title() for ax in figure(result).axes]
        ['The network at each minimum', 'Where the same 2 starts end, per variant']
    """
    settings, minima = result["settings"], result["minima"]
    fig = Figure(figsize=(11, 4.6), dpi=100, layout="constrained")
    fits, bars = fig.subplots(1, 2, width_ratios=(1, 1.3))
    # not the variants' colours (blue, red, green): here a colour is a minimum
    palette = ["tab:purple", "tab:gray", "tab:olive", "tab:brown", "tab:pink", "tab:cyan"]
    colors = [palette[i % len(palette)] for i in range(len(minima))]
    fits.plot(result["x"], result["y"], "k*", markersize=9, label="target t = |p|")
    for index, minimum in enumerate(minima):
        label = f"minimum {index + 1}: SSE {minimum['value']:.4g}"
        fits.plot(result["grid"], minimum["prediction"], "-", color=colors[index], linewidth=2,
                  label=label)  # fmt: skip
    fits.set_xlabel("input p")
    fits.set_ylabel("network output")
    fits.set_title("The network at each minimum")
    fits.legend(fontsize=8)
    variants = list(result["variants"])
    names = [VARIANT_STYLE.get(v, {"label": v})["label"] for v in variants]
    left = np.zeros(len(variants))
    for index, color in enumerate(colors):
        counts = np.array([result["variants"][v]["counts"][index] for v in variants])
        label = f"minimum {index + 1}: SSE {minima[index]['value']:.4g}"
        bars.barh(names, counts, left=left, color=color, label=label)
        for row, (start, count) in enumerate(zip(left, counts)):
            if count:
                bars.text(start + count / 2, row, str(count), ha="center", va="center",
                          color="white", fontweight="bold")  # fmt: skip
        left += counts
    diverged = np.array([result["variants"][v]["diverged"] for v in variants])
    if diverged.any():
        bars.barh(names, diverged, left=left, color="black", label="diverged")
    bars.invert_yaxis()
    bars.set_xlabel(f"number of starts (the same {settings['num_starts']} for every variant)")
    bars.set_title(f"Where the same {settings['num_starts']} starts end, per variant")
    bars.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
    claim = escape_claim(result)
    if claim["holds"]:
        others = ", ".join(
            f"{VARIANT_STYLE.get(v, {'label': v})['label']} {n}"
            for v, n in claim["lowest"].items()
            if v != "batch"
        )
        headline = (
            f"Of the same {settings['num_starts']} starts, the lower minimum is reached by batch "
            f"GD {claim['lowest']['batch']} times, {others}; none ends higher than batch GD"
        )
    else:
        headline = f"Where {settings['num_starts']} starts of each variant end on t = |p|"
    fig.suptitle(
        f"{headline}\n1-{settings['hidden']}-1 network, eta_0 = {settings['learning_rate']:g}, "
        f"{settings['num_epochs']} epochs (SGD and mini-batch GD: eta decays to "
        f"{settings['final_fraction']:g} eta_0); then {settings['settle_epochs']} batch-GD "
        "epochs from every end point,\nand the minimum a start ends in is where those settle "
        f"(settled SSEs with no gap over {settings.get('cluster_tolerance', 0.05):g}: one minimum)",
        fontsize=10,
    )
    return fig


def summary(result: dict) -> str:
    """A few lines: the minima, and how many starts of each variant end in each.

    Example:
        >>> print(summary({"settings": {"num_starts": 2, "hidden": 1}, "minima": [
        ...     {"value": 2.7}, {"value": 3.9}], "variants": {"sgd": {
        ...     "counts": [2, 0], "diverged": 0, "moves": {"lower": 1, "same": 1, "higher": 0}}}}))
        local minima of t = |p| (1-1-1 network), 2 starts per variant; SSE at each: 2.7, 3.9;
        starts ending at each, per variant:
          sgd        ends [2, 0]; vs batch GD from the same start: 1 lower, 1 same, 0 higher
    """
    settings = result["settings"]
    values = ", ".join(f"{m['value']:.4g}" for m in result["minima"])
    lines = [
        f"local minima of t = |p| (1-{settings['hidden']}-1 network), "
        f"{settings['num_starts']} starts per variant; SSE at each: {values}; "
        "starts ending at each, per variant:"
    ]
    for variant, r in result["variants"].items():
        moves = r["moves"]
        diverged = f", {r['diverged']} diverged" if r["diverged"] else ""
        lines.append(
            f"  {variant:<10} ends {r['counts']}{diverged}; vs batch GD from "
            f"the same start: {moves['lower']} lower, {moves['same']} same, "
            f"{moves['higher']} higher"
        )
    return "\n".join(lines)
