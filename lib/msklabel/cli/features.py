"""``msklabel embed`` and ``msklabel similar``: study embeddings and similar-case search."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from msklabel.cli.device import add_device_option, device_of

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    embed = subparsers.add_parser(
        "embed",
        help="embed a series with an image encoder (LiteMedSAM by default, or DINOv2, DINOv3, "
        "CT-FM)",
        description="Write per-slice embeddings and the pooled study embedding of SERIES (a "
        "DICOM series folder or a NIfTI file) to --out as embedding.npz, with embedding.json "
        "naming the model, the weights' SHA-256 and the pooling; with --index, also add the "
        "study to that index.",
    )
    _series_arguments(embed)
    embed.add_argument("--out", type=Path, required=True, help="output folder")
    embed.add_argument("--index", type=Path, default=None, help="study index folder to add to")
    embed.set_defaults(handler=_embed)

    similar = subparsers.add_parser(
        "similar",
        help="find the studies in an index most similar to a series",
        description="Embed SERIES (or read an embedding folder written by msklabel embed) "
        "and print the -k studies of --index with the highest cosine similarity as JSON, "
        "leaving SERIES itself out.",
    )
    _series_arguments(similar)
    similar.add_argument("--index", type=Path, required=True, help="study index folder")
    similar.add_argument("-k", type=int, default=5, help="how many studies (default 5)")
    similar.set_defaults(handler=_similar)


def _series_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "series", type=Path, metavar="SERIES", help="DICOM folder, NIfTI file or embedding folder"
    )
    parser.add_argument(
        "--model",
        choices=("litemedsam", "dinov2", "dinov3", "ctfm"),
        default="litemedsam",
        help="image encoder (default: litemedsam, whose weights are embedded; dinov2, dinov3 "
        "and ctfm need --checkpoint)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="encoder weights file (a DINOv2/DINOv3 ViT-S or ViT-B, or CT-FM's encoder)",
    )
    add_device_option(parser)
    parser.add_argument(
        "--slices",
        type=int,
        default=None,
        help="embed N evenly spaced central slices (default: all)",
    )
    parser.add_argument("--echo-time", type=float, default=None, help="echo to embed (ms)")
    parser.add_argument("--series-uid", default=None, help="Series Instance UID to embed")
    parser.add_argument(
        "--id",
        default=None,
        help="the study's id in the index (default: Series Instance UID, "
        "else the file or folder name)",
    )


def _embedded(args: argparse.Namespace):
    """The study embedding of ``args.series``, its id and source description."""
    from msklabel.features import load_embedder, load_embedding
    from msklabel.features.store import SIDECAR
    from msklabel.io import read_volume
    from msklabel.labeling.active import sampled_indices

    if (args.series / SIDECAR).is_file():
        embedding, sidecar = load_embedding(args.series)
        source = sidecar["source"]
    else:
        volume = read_volume(
            args.series, series_instance_uid=args.series_uid, echo_time=args.echo_time
        )
        embedder = load_embedder(args.model, args.checkpoint, device=device_of(args))
        total = volume.shape[0]
        slices = None if args.slices is None else sampled_indices(total, args.slices)
        embedding = embedder.embed(volume, slices, progress=True)
        source = {
            "series_instance_uid": volume.series_instance_uid,
            "study_instance_uid": volume.study_instance_uid,
            "name": args.series.name,
            "slices_total": total,
        }
    study_id = (
        args.id or source.get("series_instance_uid") or source.get("name") or str(args.series)
    )
    return embedding, study_id, source


def _embed(args: argparse.Namespace) -> int:
    from msklabel.features import StudyIndex, save_embedding

    embedding, study_id, source = _embedded(args)
    save_embedding(embedding, args.out, source)
    log.info("wrote %s (%d slices, %s)", args.out, len(embedding.indices), embedding.model_id)
    if args.index is not None:
        with StudyIndex.locked(args.index) as index:
            index.add(study_id, embedding.study, embedding.model_id, {"embedding": str(args.out)})
        log.info("index %s holds %d studies", args.index, len(index))
    return 0


def _similar(args: argparse.Namespace) -> int:
    from msklabel.features import StudyIndex

    embedding, study_id, _ = _embedded(args)
    found = StudyIndex.open(args.index).search(
        embedding.study, embedding.model_id, args.k, exclude=[study_id]
    )
    rows = [{"id": n.id, "similarity": round(n.similarity, 4), **n.info} for n in found]
    print(
        json.dumps({"query": study_id, "model_id": embedding.model_id, "similar": rows}, indent=2)
    )
    return 0
