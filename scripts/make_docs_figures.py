"""Regenerate the committed figures under docs/figures/ (README material, docs/compare.md).

    python scripts/make_docs_figures.py [--outdir docs/figures] [--quick]

Writes the lecture's two figures (scripts/lecture_figures.py) and the comparison figures
of ``python -m keras_lab.compare`` with its defaults: the lecture's 9 points, the 1-2-1
network from seed 0, alpha = 0.3, 2000 epochs, mini-batches of 3, and K = 256 random
starts per variant (2000 epochs). --quick: 200 epochs and K = 32, for a smoke test.
Takes about a minute on 2 CPU cores (XLA compilation included).
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
    args = parser.parse_args(argv)
    import_tensorflow()
    from keras_lab import compare

    os.makedirs(args.outdir, exist_ok=True)
    written = lecture_figures.make_figures(args.outdir)["paths"]
    config = compare.CompareConfig()
    if args.quick:
        config = dataclasses.replace(config, epochs=200, starts=32, starts_epochs=200)
    with tempfile.TemporaryDirectory() as tmp:  # result.json stays out of docs/
        result = compare.compare(config, tmp)
        for path in result["figures"]:
            target = os.path.join(args.outdir, os.path.basename(path))
            shutil.move(path, target)
            written.append(target)
    print(compare.format_result(result).rsplit("\n", 2)[0])
    print("wrote", " ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
