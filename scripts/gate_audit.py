"""Does the quality gate let a wrong number leave as valid? Measured on the held-out simulation.

Usage: python scripts/gate_audit.py [--presets ...] [--seeds 20 21] [--slices N] [--matrix N]
[--tolerance 0.2] [--no-laterality]

Each study is simulated, written as a DICOM series and read back (so that the gate reads
the field strength and the chemical shift from the headers, as the PACS pipeline does),
segmented fully automatically with the shipped knee network and judged by the gate with its
default rules. Every structure's volume, mean thickness (plates) and median T2 are compared
with the same quantities measured by the same code on the true label map. A value off by more
than ``--tolerance`` (relative) is *wrong*; the script prints one row per study and
structure, then how many wrong values each verdict let through (markdown). With
``--no-laterality`` the series is sent without (Image)Laterality, as many sites send it: the
segmenter must then tell the knee's side from the anatomy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from pydicom import dcmread

from msklabel.biomarkers.knee import KneeBiomarkers, measure_knee
from msklabel.biomarkers.quality import assess_knee, confidence_from_scores
from msklabel.data.simulation import PRESETS, simulate_study, write_study
from msklabel.io import read_echoes
from msklabel.io.acquisition import Acquisition
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.segment.overlap import dice

STRUCTURES = (*BONES, *CARTILAGE_PLATES, *MENISCI)
#: The values the SR carries that the truth can check: (quantity, derivation).
QUANTITIES = (("volume", None), ("thickness", "mean"), ("t2", "median"))


def _value(result: KneeBiomarkers, key: str, quantity: str, derivation: str | None) -> float:
    try:
        return result.measurements.get(key, quantity, derivation)
    except KeyError:
        return float("nan")


def _drop_laterality(series: Path) -> None:
    for path in series.rglob("*.dcm"):
        header = dcmread(path)
        for keyword in ("Laterality", "ImageLaterality"):
            if keyword in header:
                delattr(header, keyword)
        header.save_as(path, enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--slices", type=int, default=None)
    parser.add_argument("--matrix", type=int, default=None)
    parser.add_argument("--tolerance", type=float, default=0.2)
    parser.add_argument(
        "--no-laterality", action="store_true", help="send the series without (Image)Laterality"
    )
    args = parser.parse_args()
    segmenter = load_segmenter()
    names = [f"{q} {d}" if d else q for q, d in QUANTITIES]
    print("| preset | seed | structure | Dice | verdict | reasons | " + " | ".join(names) + " |")
    print("|" + "---|" * (6 + len(names)), flush=True)
    let_through: Counter[tuple[str, str]] = Counter()
    judged: Counter[str] = Counter()
    for preset in args.presets:
        for seed in args.seeds:
            start = time.time()
            study = simulate_study(preset, seed, slices=args.slices, matrix=args.matrix)
            with tempfile.TemporaryDirectory() as folder:  # headers are read from the files
                series = write_study(study, folder)["dicom"]
                if args.no_laterality:
                    _drop_laterality(series)
                echoes = read_echoes(series)
                acquisition = Acquisition.of(echoes[0])
                segmentation = segment_knee(echoes, segmenter, progress=False)
            labels = segmentation.labels
            if study.truth.shape != labels.shape:
                raise SystemExit(f"{preset} seed {seed}: the series read back has another grid")
            truth = labels.with_array(study.truth.array)
            fitted = echoes if len(echoes) >= 2 else []
            result = measure_knee(labels, echoes=fitted)
            reference = measure_knee(truth, echoes=fitted)
            quality = assess_knee(
                labels, result, echoes=fitted, image=echoes[0],
                confidence=confidence_from_scores(segmentation.scores),
                acquisition=acquisition, sides_assumed=segmentation.sides.assumed,
                zoom_spread=segmentation.zoom_spread,
            )  # fmt: skip
            for label in STRUCTURES:
                key = KneeLabel(label).key
                judged_as = quality.structures.get(key)
                verdict = judged_as.verdict.value if judged_as else "absent"
                reasons = ", ".join(r.code for r in judged_as.reasons) if judged_as else ""
                cells = []
                for quantity, derivation in QUANTITIES:
                    got = _value(result, key, quantity, derivation)
                    true = _value(reference, key, quantity, derivation)
                    if true != true or got != got:  # NaN: not measured on one side
                        cells.append("-")
                        continue
                    error = (got - true) / true
                    wrong = abs(error) > args.tolerance
                    cells.append(f"{got:.4g} / {true:.4g} ({error:+.0%}){' **wrong**' * wrong}")
                    judged[verdict] += 1
                    let_through[verdict, "wrong"] += wrong
                score = dice(labels.array == label, truth.array == label)
                print(
                    f"| {preset} | {seed} | {key} | {score:.2f} | {verdict} | {reasons} | "
                    + " | ".join(cells) + " |",
                    flush=True,
                )  # fmt: skip
            print(f"<!-- {preset} seed {seed}: {time.time() - start:.0f} s -->", flush=True)
    print("\n| verdict | values compared | wrong (off by more than the tolerance) |")
    print("|---|---|---|")
    for verdict, count in sorted(judged.items()):
        print(f"| {verdict} | {count} | {let_through[verdict, 'wrong']} |")


if __name__ == "__main__":
    main()
