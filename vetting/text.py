"""Text comparison shared by dataset validation and item generation: normalisation and near duplicates.

Near duplicates are pairs whose word sets have a Jaccard similarity at or above a threshold. Comparing
every pair of 10,000 examples is 50 million comparisons, so candidates come from MinHash with
locality-sensitive banding (10 bands of 6 hashes: a pair at similarity 0.85 shares a band with
probability 0.99, one at 0.6 with 0.38, one at 0.5 with 0.15) and each candidate is then checked
exactly, at most MAX_CANDIDATES of them per query. The hash functions are multiply-shift hashes of a 64-bit BLAKE2
digest of each word, computed with numpy (a dependency of transformers); all seeded, so a report is
the same in every process.
"""

import hashlib
import re
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
_BANDS = 10
_ROWS = 6
MAX_CANDIDATES = 200
_PARAMS = np.random.default_rng(8675309).integers(1, 2**63, size=(2, _BANDS * _ROWS), dtype=np.uint64)
_MULTIPLIERS = (_PARAMS[0] | np.uint64(1))[:, None]  # odd
_OFFSETS = _PARAMS[1][:, None]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def normalize_text(text: str) -> str:
    """Lower case, punctuation and spacing dropped: what "the same text" means for duplicates."""
    return " ".join(words(text))


def token_set(text: str) -> frozenset[str]:
    return frozenset(words(text))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Sketch:
    """A token set as 64-bit word hashes, and its MinHash bands."""

    hashes: frozenset[int]
    bands: tuple[bytes, ...]


@lru_cache(maxsize=1 << 18)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def sketch(tokens: frozenset[str]) -> Sketch:
    hashes = frozenset(_token_hash(token) for token in tokens)
    values = np.fromiter(hashes or (0,), dtype=np.uint64)
    with np.errstate(over="ignore"):
        signature = ((_MULTIPLIERS * values[None, :] + _OFFSETS) >> np.uint64(32)).min(axis=1)
    bands = tuple(signature[band * _ROWS : (band + 1) * _ROWS].tobytes() for band in range(_BANDS))
    return Sketch(hashes, bands)


class NearDuplicateIndex:
    """Finds, among the token sets added so far, one at or above `threshold` Jaccard similarity."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._sets: dict[Hashable, frozenset[int]] = {}
        self._buckets: list[defaultdict[bytes, list[Hashable]]] = [defaultdict(list) for _ in range(_BANDS)]

    def add(self, key: Hashable, entry: Sketch) -> None:
        self._sets[key] = entry.hashes
        for buckets, band in zip(self._buckets, entry.bands, strict=True):
            buckets[band].append(key)

    def query(self, entry: Sketch) -> Hashable | None:
        """The first key found whose token set is near the sketched one, or None."""
        checked: set[Hashable] = set()
        for buckets, band in zip(self._buckets, entry.bands, strict=True):
            for key in buckets.get(band, ()):
                if key in checked:
                    continue
                if jaccard(entry.hashes, self._sets[key]) >= self.threshold:
                    return key
                checked.add(key)
                if len(checked) >= MAX_CANDIDATES:
                    return None
        return None
