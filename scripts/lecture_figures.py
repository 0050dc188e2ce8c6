"""Reproduce the lecture's two figures from its numpy listing, with our code.

    python scripts/lecture_figures.py [--outdir docs/figures] [--seed 0] [--epochs 10]

The listing trains the 1-2-1 sigmoid network on the 9 points with stochastic GD
(alfa = 0.3, epoch = 10, samples in order, a uniform [0, 1) random start) and draws
plt.figure(0): the SSE after each epoch, 'r-o', xlabel "iteration", ylabel "Loss (SSE)";
plt.figure(1): targets 'b*' and predictions 'r-*', xlabel "IN", ylabel "OUT", legend
['target', 'predict']. Here the training is keras_lab.lecture.backprop.train_sgd (the listing's
equations), the start models.lecture_random_weights(seed) (the listing's np.random.rand,
seeded), and the figures keras_lab.plots.loss_curve and keras_lab.plots.fit, written as
lecture_loss.png and lecture_fit.png (the training is numpy; models imports Keras). Each
title states its figure's claim (lecture_claims) only where it holds: the SSE falls every
epoch; every prediction is within a tenth of the targets' span of its target.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from keras_lab import data, models, plots
from keras_lab.lecture import backprop

ALPHA = 0.3  # the listing's alfa
EPOCHS = 10  # the listing's epoch


def make_figures(
    outdir: str, seed: int = 0, epochs: int = EPOCHS, alpha: float = ALPHA, svg: bool = False
) -> dict:
    """Train as the listing does, save both figures; return the paths and the numbers."""
    x, t = data.lecture_data("float64")
    start = models.lecture_random_weights(seed)
    activations = ["sigmoid", "linear"]
    layers, history = backprop.train_sgd(start, activations, x, t, alpha, epochs)
    predictions = backprop.predict(layers, activations, x.T).ravel()
    claims = lecture_claims(history, t.ravel(), predictions)
    falls, fits = claims["loss_falls_every_epoch"], claims["fit"]
    loss = plots.loss_curve(
        history,
        ylabel="Loss (SSE over the 9 points)",
        title=(
            f"The lecture's figure 0: the SSE falls every epoch, {history[0]:.2g} to "
            f"{history[-1]:.2g}"
            if falls
            else "The lecture's figure 0: SSE per epoch"
        )
        + f"\n(SGD, samples in order, alfa = {alpha:g}, random start seed {seed})",
    )
    loss.axes[0].set_xlabel("iteration (epoch: one pass over the 9 samples)")
    fit = plots.fit(
        x,
        t,
        predictions,
        title=(
            f"The lecture's figure 1: after {epochs} epochs every prediction\nis within "
            f"{claims['largest_error']:.2g} of its target"
            if fits["holds"]
            else f"The lecture's figure 1: target vs predict after {epochs} epochs"
        )
        + f" (targets span {fits['target_span']:g}; SGD, alfa = {alpha:g}, seed {seed})",
    )
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for stem, figure in (("lecture_loss", loss), ("lecture_fit", fit)):
        for ext in ("png", "svg") if svg else ("png",):
            path = os.path.join(outdir, f"{stem}.{ext}")
            figure.savefig(path)
            paths.append(path)
    return {
        "paths": paths,
        "history": history,
        "predictions": predictions,
        "layers": layers,
        "claims": claims,
    }


def lecture_claims(history: np.ndarray, targets: np.ndarray, predictions: np.ndarray) -> dict:
    """The claims of the two figures: the SSE falls every epoch (figure 0); every prediction
    is within a tenth of the targets' span of its target (figure 1: the net follows the S).

    Example:
        >>> claims = lecture_claims(np.array([2.5, 1.0, 0.1]), np.array([0.0, 2.0]),
        ...                         np.array([0.05, 1.9]))
        >>> claims["loss_falls_every_epoch"], claims["fit"], round(claims["largest_error"], 3)
        (True, {'target_span': 2.0, 'holds': True}, 0.1)
    """
    largest = float(np.max(np.abs(targets - predictions)))
    span = float(np.ptp(targets))
    return {
        "loss_falls_every_epoch": bool(np.all(np.diff(history) < 0)),
        "largest_error": largest,
        "fit": {"target_span": span, "holds": bool(largest < span / 10)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--outdir", default=os.path.join("docs", "figures"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random start")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--alpha", type=float, default=ALPHA, help="learning rate")
    parser.add_argument("--svg", action="store_true", help="also write SVG")
    args = parser.parse_args(argv)
    result = make_figures(args.outdir, args.seed, args.epochs, args.alpha, args.svg)
    np.set_printoptions(precision=6, suppress=True)
    print("SSE per epoch:", result["history"])
    for m, (w, b) in enumerate(result["layers"], start=1):
        print(f"W{m}= {w.ravel()}  b{m}= {b.ravel()}")
    print("wrote", " ".join(result["paths"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
