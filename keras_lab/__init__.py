"""keras-lab: the lecture on gradient descent, back propagation and loss functions, in Keras 3.

The folders are the architecture; each layer imports only the ones above it in this list:

- ``checks``: argument checks, one line naming the bad value
- ``lecture/``: the lecture's math in numpy, no TensorFlow: ``backprop`` (the equations and
  the worked example), ``gd`` (the variants as batch sizes, learning-rate schedules),
  ``order`` (each epoch's order of samples), ``gradcheck`` (finite differences),
  ``listing`` (the lecture's code, verbatim)
- ``config``, ``data``, ``models``, ``plots``: the runs' settings and their defaults; the 9
  points of g(p) = 1 + sin(pi p / 4) and larger sets; the 1-2-1 sine-fit network and a
  general MLP; the figures of a run
- ``engine/``: ``loop`` (the one loop: the only GradientTape and the update rule),
  ``chunks`` (epochs run as compiled chunks; the epoch stats), ``batches`` and ``stream``
  (where batches come from), ``devices`` (one device or replicas), ``callbacks`` (fit with
  history, measurements, checkpoints, TensorBoard), ``summaries``, ``workers``
- ``experiments/``: ``curves`` (loss against epochs), ``trajectory`` (paths on a 2-D
  surface), ``multistart`` (K starts at once), ``minima`` (local minima), ``losslab``
- ``rundir``, ``problem``: one run directory for every CLI; config -> data, model, loss
- ``pipeline``: train's steps (build the loop, fit, evaluate, write the run directory)
- the commands: ``train``, ``compare``, ``losslab``, ``backprop``, ``stream``
- ``bench/``: benchmarks and their peers (JAX, the literal listing); tooling, not library

The main names are importable from here (``from keras_lab import GradientDescent``);
importing the package itself imports neither TensorFlow nor Keras.
"""

import importlib
import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) is noise for a CPU
# teaching tool; the user can still override this before importing us.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

#: name -> the module that defines it, imported on first use (PEP 562).
_MAIN_NAMES = {
    "lecture_data": "keras_lab.data",
    "sine_data": "keras_lab.data",
    "sine_fit_model": "keras_lab.models",
    "mlp": "keras_lab.models",
    "set_lecture_weights": "keras_lab.models",
    "GradientDescent": "keras_lab.engine.loop",
    "EpochStats": "keras_lab.engine.loop",
    "fit": "keras_lab.engine.callbacks",
    "Callback": "keras_lab.engine.callbacks",
    "History": "keras_lab.engine.callbacks",
    "Checkpoints": "keras_lab.engine.callbacks",
    "TensorBoard": "keras_lab.engine.callbacks",
    "ProgressBar": "keras_lab.engine.callbacks",
    "Measure": "keras_lab.engine.callbacks",
    "TensorBoardScalars": "keras_lab.engine.callbacks",
    "import_tensorflow": "keras_lab._cli",
}
__all__ = sorted(_MAIN_NAMES)


def __getattr__(name: str) -> object:
    if name not in _MAIN_NAMES:
        raise AttributeError(f"module 'keras_lab' has no attribute {name!r}")
    return getattr(importlib.import_module(_MAIN_NAMES[name]), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


from keras_lab import _moved  # noqa: E402  old module paths keep working

_moved.install()
