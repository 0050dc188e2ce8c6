"""The epoch's visiting order as integer arithmetic: a pure function of (seed, epoch).

numpy only (no TensorFlow, no JAX): this is the reference the compiled loops are tested
against, and the JAX peer's order. The same integer operations give bit-identical orders in
numpy, TensorFlow (eager, tf.function, XLA) and JAX: nothing depends on a random-number
generator's implementation or on float rounding.

Algorithm (uint32 arithmetic, every product wraps modulo 2^32):

    mix32(v)  = v ^= v >> 16; v *= 0x7FEB352D; v ^= v >> 15; v *= 0x846CA68B; v ^= v >> 16
    k         = max(2, bit_length(n - 1))                 # 2^k >= n, and 2^k < 2n for n >= 3
    key_(-1)  = mix32(seed32 ^ mix32(epoch32 ^ 0x9E3779B9))  # seed32 = seed mod 2^32, same epoch
    key_r     = mix32(key_(r-1) + 0x85EBCA6B),  r = 0 .. ROUNDS-1
    feistel(v): (a, b) = (k - k // 2, k // 2)             # widths of the high and low part
        for each key_r:
            hi, lo = v >> b, v & (2^b - 1)
            v = (lo << a) | (hi ^ (mix32(lo ^ key_r) & (2^a - 1)))
            (a, b) = (b, a)
    order[i]  = feistel(i); while order[i] >= n: order[i] = feistel(order[i])   # cycle walk

Every round is a bijection of [0, 2^k) whatever its round function (the halves swap widths),
so feistel is one, and cycle walking restricts it to a bijection of [0, n). The orders are
pseudo-random permutations, not uniform over all n! orders: enough to shuffle SGD's samples.
"""

from __future__ import annotations

import numpy as np

#: Feistel rounds.
ROUNDS = 4
#: The constants of the algorithm above (mix32's multipliers, the key schedule's offsets).
MIX_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)
EPOCH_OFFSET = 0x9E3779B9
KEY_STEP = 0x85EBCA6B
_MASK32 = 0xFFFFFFFF


def num_bits(num_samples: int) -> int:
    """k: the Feistel network permutes [0, 2^k), the smallest such range holding n (k >= 2).

    Example:
        >>> [num_bits(n) for n in (1, 4, 5, 9, 2**20)]
        [2, 2, 3, 4, 20]
    """
    return max(2, int(num_samples - 1).bit_length())


def mix32(v):
    """The round function's hash: xor-shift-multiply on uint32 (wrapping products).

    Operators only, so ``v`` may be a numpy or a JAX uint32 array (or a np.uint32).

    Example:
        >>> int(mix32(np.uint32(1)))
        1753845952
    """
    m1, m2 = MIX_MULTIPLIERS
    with np.errstate(over="ignore"):
        v = v ^ (v >> 16)
        v = v * np.uint32(m1)
        v = v ^ (v >> 15)
        v = v * np.uint32(m2)
        return v ^ (v >> 16)


def round_keys(seed32, epoch32) -> list:
    """The ROUNDS keys of one epoch, from uint32 ``seed32`` and ``epoch32`` (numpy or JAX)."""
    key = mix32(seed32 ^ mix32(epoch32 ^ np.uint32(EPOCH_OFFSET)))
    keys = []
    with np.errstate(over="ignore"):
        for _ in range(ROUNDS):
            key = mix32(key + np.uint32(KEY_STEP))
            keys.append(key)
    return keys


def feistel(v, bits: int, keys: list):
    """One pass of the Feistel network: a bijection of [0, 2^bits) on uint32 values."""
    high, low = bits - bits // 2, bits // 2
    for key in keys:
        hi, lo = v >> low, v & np.uint32((1 << low) - 1)
        mixed = mix32(lo ^ key) & np.uint32((1 << high) - 1)
        v = (lo << high) | (hi ^ mixed)
        high, low = low, high
    return v


def to_uint32(value: int) -> np.uint32:
    """An integer mod 2^32, as the algorithm takes the seed and the epoch."""
    return np.uint32(int(value) & _MASK32)


def epoch_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """The visiting order of epoch ``epoch``: a permutation of 0 .. num_samples - 1 (int64).

    Example:
        >>> epoch_order(9, seed=0, epoch=0)
        array([8, 7, 2, 0, 1, 4, 6, 5, 3])
        >>> sorted(epoch_order(1000, seed=3, epoch=7)) == list(range(1000))
        True
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise ValueError(f"num_samples must be an integer, got {num_samples!r}")
    if not 1 <= num_samples <= 2**31:
        raise ValueError(f"num_samples must be between 1 and 2^31, got {num_samples}")
    bits, keys = num_bits(num_samples), round_keys(to_uint32(seed), to_uint32(epoch))
    order = feistel(np.arange(num_samples, dtype=np.uint32), bits, keys)
    walking = np.flatnonzero(order >= num_samples)
    while walking.size:  # only the values still outside [0, n) take another pass
        order[walking] = feistel(order[walking], bits, keys)
        walking = walking[order[walking] >= num_samples]
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
