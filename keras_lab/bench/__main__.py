import sys

from keras_lab.bench.cli import main

sys.exit(main())
