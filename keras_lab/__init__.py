"""keras-lab: the lecture on gradient descent, back propagation and loss functions, in Keras 3.

Modules (the file split is the architecture):

- :mod:`keras_lab.data`: the lecture's 9 points and larger sets drawn from g(p) = 1 + sin(pi p / 4)
- :mod:`keras_lab.models`: the 1-2-1 sine-fit network and a general MLP builder
- :mod:`keras_lab.backprop`: the lecture's back-propagation equations in numpy
- :mod:`keras_lab.gradcheck`: finite differences against tape gradients
- :mod:`keras_lab.train`: the command line (``python -m keras_lab.train``)
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) is noise for a CPU
# teaching tool; the user can still override this before importing us.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"


def import_tensorflow() -> None:
    """Import TensorFlow and Keras with the C++ runtime's start-up notes hidden.

    On import and on first use, TensorFlow's C++ layer writes notes straight to file
    descriptor 2 ("oneDNN custom operations are on", "Could not find cuda drivers", an
    E-level "failed call to cuInit" on a machine without a GPU). They are not errors, but
    they read as errors in a notebook or a CLI; ``TF_CPP_MIN_LOG_LEVEL`` does not hide them
    in TensorFlow 2.21. This imports TensorFlow with fd 2 sent to a temporary file (replayed
    if the import fails). Call it before ``import tensorflow``; later imports are free.
    """
    from keras_lab._cli import import_tensorflow as _import_quietly

    _import_quietly()
