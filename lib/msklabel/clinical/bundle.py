"""Model files: the fitted estimator, its z-score reference and its card, in one skops file.

skops refuses to load types it does not know; :func:`load_bundle` trusts only
scikit-learn, numpy and ``msklabel.clinical`` types, and refuses a file holding
anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msklabel.errors import InputError

from .cards import ModelCard
from .features import ReferenceCohort

MODELS_DIR = Path(__file__).with_name("models")
DEFAULT_MODELS = {
    "triage": MODELS_DIR / "triage-demo.skops",
    "tkr": MODELS_DIR / "tkr-demo.skops",
    "oa": MODELS_DIR / "oa-demo.skops",
}
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "msklabel.clinical.", "builtins.")


@dataclass
class ModelBundle:
    """A fitted model with everything prediction needs.

    ``kind`` is ``"triage"`` or ``"risk"``; ``settings`` holds the training options
    (specificities; for risk models ``outcome``, ``horizon_months``, ``landmarks``).
    """

    kind: str
    estimator: Any
    reference: ReferenceCohort
    card: ModelCard
    settings: dict[str, Any] = field(default_factory=dict)


def card_path(path: Path) -> Path:
    """The Markdown card written next to a model file."""
    return path.with_suffix(".card.md")


def save_bundle(bundle: ModelBundle, path: Path) -> Path:
    """Write ``path`` (skops) and its Markdown card next to it."""
    import skops.io as sio

    meta = {
        "kind": bundle.kind,
        "reference": bundle.reference.to_dict(),
        "card": bundle.card.to_dict(),
        "settings": bundle.settings,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump({"estimator": bundle.estimator, "meta": json.dumps(meta)}, path, compression=8)
    card_path(path).write_text(bundle.card.to_markdown())
    return path


def load_bundle(path: Path | str) -> ModelBundle:
    """Read a model file written by :func:`save_bundle` (or a default model's name)."""
    import skops.io as sio

    path = DEFAULT_MODELS.get(str(path), Path(path))
    if not path.is_file():
        raise InputError(path, "no such model file")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as error:  # skops raises several types for a file it cannot read
        raise InputError(path, f"not a skops model file ({error})") from None
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise InputError(path, f"refusing to load unexpected types: {', '.join(refused)}")
    data = sio.load(path, trusted=untrusted)
    meta = json.loads(data["meta"])
    return ModelBundle(
        meta["kind"],
        data["estimator"],
        ReferenceCohort.from_dict(meta["reference"]),
        ModelCard.from_dict(meta["card"]),
        meta["settings"],
    )


def load_default_bundles() -> list[ModelBundle]:
    """The shipped demonstration models (triage, TKR, incident OA) that are present."""
    return [load_bundle(path) for path in DEFAULT_MODELS.values() if path.is_file()]
