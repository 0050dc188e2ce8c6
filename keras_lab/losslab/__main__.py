"""``python -m keras_lab.losslab``: see :mod:`keras_lab.losslab.cli`."""

import sys

from keras_lab.losslab.cli import main

sys.exit(main())
