"""Regenerate the committed figures under docs/figures/ (README, docs/compare.md, docs/losslab.md).

    python scripts/make_docs_figures.py [--outdir docs/figures] [--quick] [--only losslab]

Writes the lecture's two figures (scripts/lecture_figures.py) and the comparison figures
of ``python -m keras_lab.compare`` with its defaults (loss_vs_epoch, loss_vs_updates,
trajectory, multistart, local_minima): the lecture's 9 points, the 1-2-1 network from
seed 0, alpha = 0.3, 2000 epochs, mini-batches of 3, K = 256 random starts per variant
(2000 epochs, then 500 batch-GD epochs from each end point), and t = |p| (the same 64
starts per variant, 4000 + 4000 epochs:
keras_lab.experiments.minima). Each figure's title states its
claim only where the run bears it out; the script prints whether each held. --quick: 200
epochs and K = 32 (16 starts, 200 epochs on t = |p|), for a smoke test.
Takes about a minute on 2 CPU cores (XLA compilation included). Then the loss lab's
figures (losslab_*.png) of ``python -m keras_lab.losslab`` with its defaults (--quick: its
--quick), another 40-90 s. --only picks some of the groups: lecture, compare, losslab.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile

from keras_lab._cli import import_tensorflow

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lecture_figures  # noqa: E402  (a sibling script)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=os.path.join("docs", "figures"))
    parser.add_argument("--quick", action="store_true", help="short runs, K = 32")
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="which figures"
    )
    args = parser.parse_args(argv)
    import_tensorflow()
    from keras_lab import compare

    os.makedirs(args.outdir, exist_ok=True)
    written = []
    if "lecture" in args.only:
        lecture = lecture_figures.make_figures(args.outdir)
        written += lecture["paths"]
        print("lecture figures' claims:", lecture["claims"])
    if "compare" in args.only:
        config = compare.CompareConfig()
        if args.quick:
            config = dataclasses.replace(
                config, epochs=200, starts=32, starts_epochs=200, settle_epochs=100,
                minima_starts=16, minima_epochs=200,
            )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:  # result.json stays out of docs/
            result = compare.compare(config, tmp)
            written += move_figures(result["figures"], args.outdir)
        print(compare.format_result(result).rsplit("\n", 2)[0])
    if "losslab" in args.only:
        written += losslab_figures(args.outdir, args.quick)
    print("wrote", " ".join(written))
    return 0


GROUPS = ("lecture", "compare", "losslab")


def move_figures(paths: list[str], outdir: str) -> list[str]:
    """Move each file into outdir under its own name; return the new paths."""
    moved = []
    for path in paths:
        target = os.path.join(outdir, os.path.basename(path))
        shutil.move(path, target)
        moved.append(target)
    return moved


def losslab_figures(outdir: str, quick: bool = False) -> list[str]:
    """The loss lab's figures (losslab_*.png) with its defaults, or its --quick settings."""
    import tensorflow as tf

    from keras_lab import losslab as cli

    tf.get_logger().setLevel("ERROR")  # one tf.function per run: retracing notes expected
    config = cli.LossLabConfig()
    if quick:
        config = dataclasses.replace(config, **cli.QUICK)
    with tempfile.TemporaryDirectory() as tmp:  # result.json and TensorBoard stay out of docs/
        result = cli.run_lab(config, tmp)
        print(cli.format_result(result).rsplit("\n", 3)[0])
        return move_figures(result["figures"], outdir)


if __name__ == "__main__":
    sys.exit(main())
