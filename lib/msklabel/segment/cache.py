"""A bounded, thread-safe cache of slice embeddings shared by all sessions of a segmenter."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch


class EmbeddingKey(NamedTuple):
    """What identifies an embedding: the image content, the model, the slice and the device
    the embedding lives on (one model on two devices keeps two entries)."""

    image_id: str
    model_id: str
    slice: int
    device: str


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int


class EmbeddingCache:
    """Least-recently-used cache of immutable embeddings, bounded by their size in bytes.

    Entries are never modified once stored, so sessions on different threads can share them.
    Embeddings stay on the device they were computed on (GPU memory for a GPU backend: the
    bound then limits GPU memory), so a cached slice is decoded without a copy.
    """

    def __init__(self, max_bytes: int = 2 * 1024**3) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[EmbeddingKey, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: EmbeddingKey) -> Any | None:
        """The embedding stored for ``key``, or None (counted as a hit or a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[0]

    def put(self, key: EmbeddingKey, embedding: Any) -> None:
        """Store ``embedding``, evicting the least recently used entries beyond the bound."""
        size = nbytes(embedding)
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (embedding, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def get_many(
        self, keys: list[EmbeddingKey], compute: Callable[[list[EmbeddingKey]], list[Any]]
    ) -> list[Any]:
        """Embeddings for ``keys``, computing the missing ones together with ``compute``."""
        found = [self.get(key) for key in keys]
        missing = [key for key, value in zip(keys, found, strict=True) if value is None]
        if missing:
            computed = dict(zip(missing, compute(missing), strict=True))
            for key, value in computed.items():
                self.put(key, value)
            found = [
                computed[key] if value is None else value
                for key, value in zip(keys, found, strict=True)
            ]
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._bytes)


def nbytes(embedding: Any) -> int:
    """Memory held by the tensors in an embedding (a tensor, or a dict/list/tuple of them)."""
    if isinstance(embedding, torch.Tensor):
        return embedding.element_size() * embedding.nelement()
    if isinstance(embedding, dict):
        return sum(nbytes(value) for value in embedding.values())
    if isinstance(embedding, (list, tuple)):
        return sum(nbytes(value) for value in embedding)
    return 0
