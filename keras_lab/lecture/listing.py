"""The lecture's numpy listing (its lines 7-60), transcribed as printed, as one function.

The code a student runs from the slides (the bench's numpy baseline; the tests check it
against :func:`keras_lab.lecture.backprop.train_sgd`). Only what a function needs is changed:

- ``np.random.rand`` (lines 20-23) is replaced by the start weights passed in, in the
  lecture's layout: W1 (2, 1), b1 (2, 1), W2 (1, 2), b2 (1,); their dtype is kept (the
  listing's draw gives float64 weights; X and T are float32 as printed);
- ``alfa`` and ``epoch`` (lines 24-25) are arguments;
- two indexes that numpy >= 1.24 requires: ``dsigmoid(y1[0, 0])`` for ``dsigmoid(y1[0])``
  in F1 (a ragged array is an error since numpy 1.24; the old code made an object array that
  ``astype('float32')`` turned into the same 2x2 matrix), and ``SSE[k] = err[0, 0]`` for
  ``SSE[k] = err`` (a (1, 1) array is no longer assigned to a scalar slot).

The loops, F1 as a diagonal matrix, the float32 cast of F1 and the update order are the
listing's. No shuffling (the listing visits the points in order) and no checks: bad input
fails as the listing would.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    y = 1 / (1 + np.exp(-x))
    return y


def dsigmoid(x):
    y = (1 - x) * x
    return y


def lecture_listing(
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    alfa: float = 0.3,
    epoch: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the listing's SGD on the lecture's 9 points from the given start weights.

    Args:
        W1, b1, W2, b2: the start weights, shapes (2, 1), (2, 1), (1, 2), (1,) (the
            listing's ``np.random.rand`` draws).
        alfa: the learning rate (the listing: 0.3).
        epoch: the number of passes over the 9 points (the listing: 10).

    Returns:
        (W1, b1, W2, b2, SSE): the trained weights (b2 becomes (1, 1) after the first
        update, as in the listing) and the SSE over the 9 points after each epoch.

    Example (the lecture's worked-example start, one epoch):
        >>> from keras_lab.lecture.backprop import LECTURE_WEIGHTS
        >>> (W1, b1), (W2, b2) = LECTURE_WEIGHTS
        >>> out = lecture_listing(W1, b1, W2, b2.reshape(1), epoch=1)
        >>> [a.shape for a in out]
        [(2, 1), (2, 1), (1, 2), (1, 1), (1,)]
        >>> round(float(out[4][0]), 4)
        9.0814
    """
    # DATA SET ----- (lines 15-18)
    X = np.array([-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2], dtype="float32")
    T = np.array([0, 0.075, 0.292, 0.617, 1.0, 1.382, 1.707, 1.923, 2], dtype="float32")

    SSE = np.empty(epoch)
    for k in range(epoch):
        for i in range(X.size):
            # Forward propagation
            # layer 1
            y1 = sigmoid(W1 * X[i] + b1)
            # layer 2
            y2 = np.matmul(W2, y1) + b2

            # Back propagation
            F2 = 1
            d2 = -2 * F2 * (T[i] - y2)

            F1 = np.array([[dsigmoid(y1[0, 0]), 0], [0, dsigmoid(y1[1, 0])]])

            d1 = np.matmul(F1.astype("float32"), W2.reshape(2, 1)) * d2

            # update weights in layer2
            W2 = W2 - alfa * d2 * y1.reshape(1, 2)  # y1'
            b2 = b2 - alfa * d2
            # update weights in layer1
            W1 = W1 - alfa * d1 * X[i]
            b1 = b1 - alfa * d1
        # print loss at the end of the epoch
        # forward propagation
        err = 0
        for i in range(len(X)):
            # layer 1
            Y1 = sigmoid(W1 * X[i] + b1)
            # layer 2
            Y2 = np.matmul(W2, Y1) + b2
            err += (T[i] - Y2) ** 2
        SSE[k] = err[0, 0]
    return W1, b1, W2, b2, SSE
