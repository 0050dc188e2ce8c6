"""Print the README's table: the three GD variants on the lecture's 9 points.

    python scripts/variants_table.py [--epochs 2000] [--repeats 3]

Each variant trains the 1-2-1 network from the same seeded start (seed 0) with the mean
squared error (for one sample: its SSE), alpha = 0.3, shuffling on; the wall time is the
median over --repeats runs of the training alone (GradientDescent.run, XLA compilation
included on the first call of each run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from keras_lab._cli import import_tensorflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import_tensorflow()
    from keras_lab.pipeline import TrainConfig, train_and_evaluate

    print(
        "| variant | batch size | updates per epoch | epochs | final SSE (9 points) "
        "| train seconds (median) |"
    )
    print("|---|---|---|---|---|---|")
    for variant, batch_size in (("batch", None), ("sgd", None), ("minibatch", 3)):
        seconds, sse = [], None
        for _ in range(args.repeats):
            config = TrainConfig(
                variant=variant,
                batch_size=batch_size,
                epochs=args.epochs,
                tensorboard=False,
                plots=False,
            )
            with tempfile.TemporaryDirectory() as tmp:
                result = train_and_evaluate(config, run_dir=f"{tmp}/run", progress=False)
            seconds.append(result.train_seconds)
            sse = result.sse
        size = {"batch": 9, "sgd": 1, "minibatch": 3}[variant]
        print(
            f"| {variant} | {size} | {-(-9 // size)} | {args.epochs} | {sse:.4f} | "
            f"{statistics.median(seconds):.2f} |"
        )


if __name__ == "__main__":
    main()
