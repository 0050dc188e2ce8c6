"""The search behind experiments.minima: what 1-D problems give the sine-fit net several minima.

    python scripts/find_local_minima.py [--starts 64] [--epochs 20000] [--long] [--no-search]

For a few targets on the lecture's 9 inputs and h = 1, 2 hidden units, trains K seeded
starts (the listing's uniform [0, 1) draw) with batch GD (eta = 0.3, MSE) and prints the
final SSEs grouped into minima (count, value, spread) and how many starts had stopped
falling (relative fall of the loss over the last half of the run below 1e-3). --long then
continues batch GD on t = |p|, h = 1 (the chosen problem) and prints the minima after each
doubling of the epochs: the evidence that both minima are converged; and at the end, for
the starts on the flat line, the eigenvalues of the SSE's Hessian in (w1, b1, w2, b2) by
central differences (numpy). Takes a few minutes.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from keras_lab._cli import import_tensorflow


def targets(p: np.ndarray) -> dict[str, np.ndarray]:
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    return {
        "1 + sin(pi p / 4) (the lecture's)": 1 + np.sin(np.pi * p / 4),
        "|p| (a V)": np.abs(p),
        "|p - 1| (an off-centre V)": np.abs(p - 1),
        "two bumps exp(-4 (p +- 1)^2), heights 1, 0.5": np.exp(-4 * (p + 1) ** 2)
        + 0.5 * np.exp(-4 * (p - 1) ** 2),
        "two steps sigmoid(8 (p +- 1)), heights 1, 0.6": sigmoid(8 * (p + 1))
        + 0.6 * sigmoid(8 * (p - 1)),
        "sin(pi p / 2)": np.sin(np.pi * p / 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20000)
    parser.add_argument("--long", action="store_true", help="the convergence check")
    parser.add_argument("--no-search", action="store_true", help="skip the candidates")
    args = parser.parse_args(argv)
    import_tensorflow()
    from keras_lab.data import lecture_data
    from keras_lab.experiments.multistart import MultiStartGD, cluster_values

    p, _ = lecture_data("float64")
    for name, t in {} if args.no_search else targets(p).items():
        for hidden in (1, 2):
            runner = MultiStartGD(
                p, t, range(args.starts), batch_size=len(p), learning_rate=0.3,
                hidden=hidden, dtype="float64", jit_compile=True,
            )  # fmt: skip
            result = runner.run(args.epochs)
            loss = result.loss
            fall = (loss[args.epochs // 2] - loss[-1]) / np.maximum(loss[-1], 1e-300)
            found = cluster_values(result.final_sse, 0.01)
            shown = ", ".join(f"{c.count} at {c.value:.4g} (+-{c.high - c.low:.1g})" for c in found)
            print(f"{name:<48} h={hidden}: stopped falling {int(np.sum(fall < 1e-3))}/"
                  f"{args.starts}; minima: {shown}", flush=True)  # fmt: skip
    if args.long:
        runner = MultiStartGD(
            p, np.abs(p), range(args.starts), batch_size=len(p), learning_rate=0.3, hidden=1,
            dtype="float64", jit_compile=True,
        )  # fmt: skip
        done = 0
        for chunk in range(6):
            epochs = 4000 * 2**chunk
            result = runner.run(epochs)
            done += epochs
            found = cluster_values(result.final_sse, 0.01)
            shown = ", ".join(f"{c.count} at {c.value:.6f} (+-{c.high - c.low:.1g})" for c in found)
            print(f"|p|, h=1, batch GD, {done} epochs: {shown}", flush=True)
        flat = np.flatnonzero(result.final_sse > 3.5)
        eigenvalues = np.array([hessian_eigenvalues(runner, k, p, np.abs(p)) for k in flat])
        low, high = eigenvalues.min(axis=0), eigenvalues.max(axis=0)
        ranges = ", ".join(f"{a:.2g}..{b:.2g}" for a, b in zip(low, high))
        print(f"flat line, {flat.size} starts: Hessian eigenvalues, ascending: {ranges}")
    return 0


def hessian_eigenvalues(runner, start: int, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the SSE's Hessian in (w1, b1, w2, b2) of a 1-1-1 start."""
    (w1, b1), (w2, b2) = runner.lecture_weights(start)
    theta = np.array([w1[0, 0], b1[0, 0], w2[0, 0], b2[0, 0]])

    def sse(v: np.ndarray) -> float:
        output = v[3] + v[2] / (1 + np.exp(-(v[0] * p.ravel() + v[1])))
        return float(np.sum((t.ravel() - output) ** 2))

    step, eye = 1e-4, np.eye(4) * 1e-4
    hessian = np.array(
        [
            [
                sse(theta + eye[i] + eye[j]) - sse(theta + eye[i] - eye[j])
                - sse(theta - eye[i] + eye[j]) + sse(theta - eye[i] - eye[j])
                for j in range(4)
            ]
            for i in range(4)
        ]
    ) / (4 * step**2)  # fmt: skip
    return np.linalg.eigvalsh(hessian)


if __name__ == "__main__":
    sys.exit(main())
