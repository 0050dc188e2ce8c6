"""``python -m keras_lab.losslab``: see :mod:`keras_lab.losslab.cli`."""

import sys

from keras_lab.losslab.cli import main

if __name__ == "__main__":  # not when pytest --doctest-modules imports this file
    sys.exit(main())
