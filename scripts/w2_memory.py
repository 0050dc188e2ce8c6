"""How many copies of the data set the mini-batch loop holds (the bench's w2 workload).

The target: the loop holds no more than one copy of the data set beyond the input arrays.
Builds w2's 1-64-64-1 MLP, makes the input arrays (numpy), then measures this process's
resident memory (current RSS from /proc/self/statm, not the peak) before the loop is
created, after it is created and after one epoch, for GradientDescent with XLA. The data
set here is 2**24 samples (x and y float32: 128 MiB together) so that allocator noise of a
few MB does not blur the count. Prints one JSON object.

    python scripts/w2_memory.py [--samples N] [--no-shuffle]
"""

from __future__ import annotations

import argparse
import json
import os

from keras_lab._cli import import_tensorflow


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2**24)
    parser.add_argument("--no-shuffle", dest="shuffle", action="store_false")
    args = parser.parse_args()
    import_tensorflow()

    from keras_lab.bench.workloads import MLP_BATCH, MLP_HIDDEN, MLP_LEARNING_RATE
    from keras_lab.data import sine_data
    from keras_lab.engine.loop import GradientDescent
    from keras_lab.models import mlp

    x, y = sine_data(args.samples, noise=0.1, seed=0)
    data_bytes = x.nbytes + y.nbytes
    model = mlp(hidden=MLP_HIDDEN, activation="tanh", seed=0)
    before = rss_bytes()
    loop = GradientDescent(
        model, "mse", x, y, batch_size=MLP_BATCH, learning_rate=MLP_LEARNING_RATE,
        shuffle=args.shuffle, seed=0, jit_compile=True,
    )  # fmt: skip
    created = rss_bytes()
    loop.run(1)
    after_epoch = rss_bytes()
    loop.run(1)
    after_two = rss_bytes()
    print(
        json.dumps(
            {
                "samples": args.samples,
                "shuffle": args.shuffle,
                "data_set_mib": data_bytes / 2**20,
                "rss_before_loop_mib": before / 2**20,
                "copies_after_creating_the_loop": (created - before) / data_bytes,
                "copies_after_one_epoch": (after_epoch - before) / data_bytes,
                "copies_after_two_epochs": (after_two - before) / data_bytes,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
