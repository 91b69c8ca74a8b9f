"""R's default random number generator and ``sample()``, bit for bit.

Used to reproduce mgcv's knot subsampling (``smooth.construct.tp.smooth.spec`` calls
``temp.seed(seed)``, i.e. ``RNGkind("default", "default"); set.seed(seed)``, then
``sample(1:nu, max.knots)``). Source: R 4.x ``src/main/RNG.c`` and ``random.c``.

* ``set.seed(s)`` (``RNG_Init``): the 32-bit seed is scrambled by 50 steps of the LCG
  ``s <- 69069 s + 1 (mod 2^32)``; 625 further steps fill ``.Random.seed[-1]``
  (``mti`` followed by the 624 Mersenne-Twister words); ``FixupSeeds`` then sets
  ``mti = 624`` so the first draw regenerates the whole state.
* ``unif_rand()``: MT19937 (Matsumoto & Nishimura 1998) tempered output times
  2^-32, kept inside (0, 1) by ``fixup``.
* ``R_unif_index(n)`` (``sample.kind = "Rejection"``, the default since R 3.6.0):
  draw ``bits = ceil(log2 n)`` random bits in 16-bit chunks (``rbits``) and reject
  values >= n.
* ``sample.int(n, size)`` without replacement: for n <= 1e7 (or size > n/2) the
  partial Fisher-Yates of ``do_sample`` (pick j, take x[j], move the last element
  into slot j); otherwise ``sample2``, redrawing duplicates (at most 100 tries).
"""

from __future__ import annotations

import math

import numpy as np

_N, _M = 624, 397
_MATRIX_A = 0x9908B0DF
_UPPER, _LOWER = 0x80000000, 0x7FFFFFFF
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1), R's i2_32m1
_MASK32 = 0xFFFFFFFF


class RRandom:
    """R's Mersenne-Twister stream after ``set.seed(seed)`` (kind "default")."""

    def __init__(self, seed: int):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
        if not -(2**31) < int(seed) < 2**31:  # R's asInteger(); NA_integer_ is -2^31
            raise ValueError(f"seed {seed} is not a valid R integer")
        s = int(seed) & _MASK32
        for _ in range(50):
            s = (69069 * s + 1) & _MASK32
        words = []
        for _ in range(_N + 1):
            s = (69069 * s + 1) & _MASK32
            words.append(s)
        self._mt = words[1:]  # words[0] is .Random.seed's mti slot, reset below
        if not any(self._mt):  # FixupSeeds: an all-zero state is re-randomized in R
            raise ValueError("seed gives an all-zero Mersenne-Twister state")
        self._mti = _N

    def _refill(self) -> None:
        mt = self._mt
        for kk in range(_N):
            y = (mt[kk] & _UPPER) | (mt[(kk + 1) % _N] & _LOWER)
            mt[kk] = mt[(kk + _M) % _N] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
        self._mti = 0

    def _genrand(self) -> float:
        if self._mti >= _N:
            self._refill()
        y = self._mt[self._mti]
        self._mti += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return (y & _MASK32) * 2.3283064365386963e-10

    def unif_rand(self) -> float:
        """One U(0, 1) draw, R's ``unif_rand()`` (never exactly 0 or 1)."""
        x = self._genrand()
        if x <= 0.0:
            return 0.5 * _I2_32M1
        if 1.0 - x <= 0.0:
            return 1.0 - 0.5 * _I2_32M1
        return x

    def runif(self, n: int) -> np.ndarray:
        """``runif(n)``."""
        return np.array([self.unif_rand() for _ in range(n)])

    def _rbits(self, bits: int) -> int:
        v = 0
        for _ in range(0, bits + 1, 16):
            v = 65536 * v + math.floor(self.unif_rand() * 65536)
        return v & ((1 << bits) - 1)

    def unif_index(self, n: int) -> int:
        """R_unif_index(n): uniform on {0, ..., n-1} by rejection sampling."""
        if n <= 0:
            return 0
        bits = math.ceil(math.log2(n))
        while True:
            v = self._rbits(bits)
            if v < n:
                return v

    def sample(self, n: int, size: int) -> np.ndarray:
        """``sample.int(n, size)`` without replacement: 1-based indices, R's order."""
        n, size = int(n), int(size)
        if n < 0 or size < 0 or size > n:
            raise ValueError(f"cannot take a sample of size {size} from {n} items")
        if n > 1e7 and size <= n / 2:  # sample.int's useHash: do_sample2
            out: list[int] = []
            seen: set[int] = set()
            for _ in range(size):
                for _ in range(100):
                    v = self.unif_index(n) + 1
                    if v not in seen:
                        break
                out.append(v)
                seen.add(v)
            return np.array(out, dtype=np.int64)
        if size < 2:
            return np.array([self.unif_index(n) + 1 for _ in range(size)], dtype=np.int64)
        x = np.arange(n, dtype=np.int64)
        out_arr = np.empty(size, dtype=np.int64)
        left = n
        for i in range(size):
            j = self.unif_index(left)
            out_arr[i] = x[j] + 1
            left -= 1
            x[j] = x[left]
        return out_arr


def r_sample(n: int, size: int, seed: int) -> np.ndarray:
    """``set.seed(seed); sample.int(n, size)`` (1-based)."""
    return RRandom(seed).sample(n, size)
