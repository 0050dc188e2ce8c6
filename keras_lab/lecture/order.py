"""The epoch's visiting order as integer arithmetic: a pure function of (seed, epoch).

numpy only (no TensorFlow, no JAX): this is the reference the compiled loops are tested
against, and the JAX peer's order. The same uint32 operations give bit-identical orders in
numpy, TensorFlow (eager, tf.function, XLA) and JAX: nothing depends on a random-number
generator's implementation or on float rounding.

Algorithm: a Feistel network on the grid Z_a x Z_b that holds 0 .. n-1, cycle-walked into
[0, n). uint32 arithmetic, every product wraps modulo 2^32:

    a, b     = ceil(sqrt(n)), ceil(n / a)             # a*b >= n and a*b - n < a
    mix32(v) = v ^= v >> 16; v *= 0x7FEB352D; v ^= v >> 15; v *= 0x846CA68B; v ^= v >> 16
    key_(-1) = mix32(lo ^ mix32(hi ^ mix32(epoch32 ^ 0x9E3779B9)))
               # seed = hi * 2^32 + lo (0 <= seed < 2^64), epoch32 = epoch mod 2^32
    key_r    = mix32(key_(r-1) + 0x85EBCA6B),  r = 0 .. 3
    F(x, key, s) = h - s if h >= s else h,  h = mix32(x ^ key) >> (32 - bit_length(s - 1))
    f(v):  (L, R) = (v // b, v % b)
           r even: L = (L + F(R, key_r, a)) mod a      # R unchanged: a bijection of the grid
           r odd:  R = (R + F(L, key_r, b)) mod b      # L unchanged: a bijection of the grid
           return L * b + R
    order[i] = f(i), and while order[i] >= n: order[i] = f(order[i])   # cycle walk

f is a bijection of [0, a*b) (each round is: subtract F to invert it), and cycle walking
restricts it to a bijection of [0, n). At most a - 1 < sqrt(n) values lie outside [0, n),
so walks are rare and short; the implementations walk only the chains that start from
[0, n) (:func:`epoch_order`), which gives the same result as walking every index. The
orders are pseudo-random permutations, not uniform over all n! orders: enough to shuffle
SGD's samples.
"""

from __future__ import annotations

import math

import numpy as np

from keras_lab import checks

#: Feistel rounds (alternately L and R).
ROUNDS = 4
#: The constants of the algorithm above (mix32's multipliers, the key schedule's offsets).
MIX_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)
EPOCH_OFFSET = 0x9E3779B9
KEY_STEP = 0x85EBCA6B


def grid(num_samples: int) -> tuple[int, int]:
    """(a, b): the Feistel grid Z_a x Z_b, a = ceil(sqrt(n)), b = ceil(n / a), a*b >= n.

    Example:
        >>> [grid(n) for n in (1, 9, 10, 2**20 + 1)]
        [(1, 1), (3, 3), (4, 3), (1025, 1024)]
    """
    a = math.isqrt(num_samples - 1) + 1 if num_samples > 1 else 1
    return a, -(-num_samples // a)


def mix32(v):
    """The round function's hash: xor-shift-multiply on uint32 (wrapping products).

    Operators only, so ``v`` may be a numpy, JAX or TensorFlow uint32 array (or a np.uint32).

    Example:
        >>> int(mix32(np.uint32(1)))
        1753845952
    """
    m1, m2 = MIX_MULTIPLIERS
    with np.errstate(over="ignore"):
        v = v ^ _shift_right(v, 16)
        v = v * np.uint32(m1)
        v = v ^ _shift_right(v, 15)
        v = v * np.uint32(m2)
        return v ^ _shift_right(v, 16)


def _shift_right(v, bits: int):
    """v >> bits for uint32 v, as a division (TensorFlow tensors have no ``>>``)."""
    return v // np.uint32(1 << bits)


def round_keys(seed_low, seed_high, epoch32) -> list:
    """The ROUNDS keys of one epoch, from the uint32 halves of the seed and ``epoch32``
    (numpy or JAX values): every bit of a 64-bit seed changes the order."""
    key = mix32(seed_low ^ mix32(seed_high ^ mix32(epoch32 ^ np.uint32(EPOCH_OFFSET))))
    keys = []
    with np.errstate(over="ignore"):
        for _ in range(ROUNDS):
            key = mix32(key + np.uint32(KEY_STEP))
            keys.append(key)
    return keys


def round_function(x, key, size: int, where):
    """F(x, key, s) in [0, s): the hash's top bits, reduced by one conditional subtraction."""
    if size == 1:
        return x * np.uint32(0)
    h = _shift_right(mix32(x ^ key), 32 - (size - 1).bit_length())  # h < 2^bits < 2 s
    return where(h >= np.uint32(size), h - np.uint32(size), h)


def feistel(v, num_samples: int, keys: list, where, inverse: bool = False):
    """f(v) (or its inverse) on uint32 values of [0, a*b); ``where``: np, jnp or tf's where."""
    a, b = grid(num_samples)
    size_a, size_b = np.uint32(a), np.uint32(b)
    left, right = v // size_b, v % size_b
    rounds = list(enumerate(keys))
    for r, key in reversed(rounds) if inverse else rounds:
        if r % 2 == 0:  # L = (L +- F(R)) mod a
            f = round_function(right, key, a, where)
            left = _sub_mod(left, f, size_a, where) if inverse else _add_mod(left, f, size_a, where)
        else:  # R = (R +- F(L)) mod b
            f = round_function(left, key, b, where)
            right = (
                _sub_mod(right, f, size_b, where) if inverse else _add_mod(right, f, size_b, where)
            )
    return left * size_b + right


def _add_mod(x, f, size, where):
    s = x + f  # x, f < size
    return where(s >= size, s - size, s)


def _sub_mod(x, f, size, where):
    return where(x >= f, x - f, x + size - f)


def epoch_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """The visiting order of epoch ``epoch``: a permutation of 0 .. num_samples - 1 (int64).

    Example:
        >>> epoch_order(9, seed=0, epoch=0)
        array([8, 6, 5, 1, 3, 2, 7, 4, 0])
        >>> sorted(epoch_order(1000, seed=3, epoch=7)) == list(range(1000))
        True
    """
    n = checks.integer("num_samples", num_samples, minimum=1, maximum=2**31)
    seed = checks.integer("seed", seed, minimum=0, maximum=2**64 - 1)
    low, high, epoch32 = (np.uint32(v % 2**32) for v in (seed, seed >> 32, int(epoch)))
    keys = round_keys(low, high, epoch32)
    order = feistel(np.arange(n, dtype=np.uint32), n, keys, np.where)
    a, b = grid(n)
    outside = np.arange(n, a * b, dtype=np.uint32)  # the values a walk can pass through
    before = feistel(outside, n, keys, np.where, inverse=True)
    entered = before < n  # walks start at f(i) = u for i in [0, n); walk those u on
    exits = feistel(outside[entered], n, keys, np.where)
    while (exits >= n).any():
        exits = np.where(exits >= n, feistel(exits, n, keys, np.where), exits)
    order[before[entered]] = exits
    return order.astype(np.int64)


def epoch_orders(num_samples: int, seed: int, first_epoch: int, num_epochs: int) -> np.ndarray:
    """The orders of ``num_epochs`` epochs from ``first_epoch``, shape (num_epochs, num_samples).

    Example:
        >>> epoch_orders(4, seed=0, first_epoch=2, num_epochs=3).shape
        (3, 4)
    """
    return np.stack(
        [epoch_order(num_samples, seed, first_epoch + e) for e in range(int(num_epochs))]
    )
