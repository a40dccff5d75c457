"""Study embeddings from an image encoder: similar-case search and diverse active learning.

>>> from msklabel.features import load_embedder, StudyIndex
>>> embedder = load_embedder()  # LiteMedSAM, packaged weights  # doctest: +SKIP
>>> embedder = load_embedder("dinov2", "dinov2_vits14_pretrain.pth")  # doctest: +SKIP
>>> found = embedder.embed(volume)  # doctest: +SKIP
>>> StudyIndex.open("index").search(found.study, found.model_id, k=5)  # doctest: +SKIP
"""

from msklabel.features.embedding import (
    EMBEDDING_MODELS,
    POOLING,
    Embedder,
    EncoderEmbedder,
    StudyEmbedding,
    load_embedder,
    pool_study,
)
from msklabel.features.index import Neighbour, StudyIndex
from msklabel.features.store import load_embedding, save_embedding

__all__ = [
    "EMBEDDING_MODELS",
    "POOLING",
    "Embedder",
    "EncoderEmbedder",
    "Neighbour",
    "StudyEmbedding",
    "StudyIndex",
    "load_embedder",
    "load_embedding",
    "pool_study",
    "save_embedding",
]
