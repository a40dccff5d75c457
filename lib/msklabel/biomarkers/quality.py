"""The quality gate: a verdict per structure (pass / doubtful / fail) with its reasons.

A verdict comes from figures measured on the label map itself (and on the echoes where
there are several), each judged against a :class:`Band` of limits:

``confidence``
    the segmenter's confidence in [0, 1] (e.g. the median of LiteMedSAM's predicted IoU
    over the slices it segmented, :func:`confidence_from_scores`), when it gives one;
``zoom_spread``
    how much a structure's size depends on the zoom the knee network saw the slices at
    (the range of its voxel count over the zooms' answers, as a share of the answer's),
    when the segmenter gives it;
``rectangularity``
    box-likeness of a thin structure (cartilage, menisci): the median, over the slices
    along the first array axis (the acquired images, where detector boxes are drawn), of
    the share of its axis-aligned bounding box each slice's mask fills (a box: 1.0);
``near_bone_share``
    share of a cartilage plate's voxels within ``near_bone_mm`` of its own bone;
``inside_bone_share``
    share of a plate's or meniscus' voxels inside one bone: in a hole of it in 3D, or
    surrounded by its outline in planes along two of the three axes (a label map holds one
    label per voxel, so "overlap with bone" is cartilage the bone's outline surrounds; a
    dish such as the medial plateau rings its cartilage in one plane only);
``fragment_share``
    share of voxels outside the largest connected part (two for the femoral cartilage,
    whose condyles may be separate);
``between_bones_share``
    share of a meniscus' voxels within ``between_bones_mm`` of both femur and tibia;
``thickness_mean_mm``, ``thickness_p95_mm``, ``area_mm2``
    a plate's measured thickness and bone-cartilage interface area;
``volume_mm3``
    any structure's volume;
``bone_signal``
    a bone's median signal in the image it was segmented on, as a share of the median of
    the image's tissue (:func:`~msklabel.biomarkers.masks.bone_signal`): a bone drawn in the
    air around the knee has next to none;
``t2_median_ms``
    median T2 of a plate's or meniscus' voxels, fitted here from the echoes by
    :func:`msklabel.biomarkers.t2.fit_t2` (the EPG model on a multi-echo spin echo), judged
    against the limits for the field strength;
``t2_fluid_share``
    share of those voxels fitted longer than :data:`~msklabel.biomarkers.t2.FLUID_T2_MS`:
    a mask that takes joint fluid (its median may still look like cartilage).

A cartilage plate or meniscus is doubtful (``chemical_shift``) when the series' header shows
a fat-water chemical shift (:mod:`msklabel.io.chemical_shift`) larger than
``chemical_shift_px`` acquired pixels along the readout without fat suppression: the
automatic mask is then displaced along the readout although its size, T2 and shape stay
plausible (docs/simulation.md). The medial and lateral tibial plates and menisci are doubtful
(``laterality``) when the segmenter could only assume which knee it was (no laterality in
the header, no fibula in view): their labels are swapped if it guessed wrong.

An expected structure (bones, plates, menisci) that is absent fails (``empty``), one with
fewer than ``min_voxels`` voxels fails (``tiny``), and a plate whose thickness cannot be
measured (its rays never leave it) fails (``unmeasurable``). The verdict of a structure is its
worst figure's. Defaults and their sources: docs/quality.md. Every limit can be changed per
site (:func:`rules_from_mapping`, :func:`load_rules`; the ``[quality]`` table of the PACS
routing configuration).
"""

from __future__ import annotations

import enum
import math
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from msklabel.biomarkers.knee import PLATE_BONES, KneeBiomarkers
from msklabel.biomarkers.masks import GROUPS, MaskFigures, T2Figures, bone_signal, t2_figures
from msklabel.biomarkers.measurement import Measurements
from msklabel.biomarkers.t2 import FLUID_T2_MS
from msklabel.errors import InputError
from msklabel.io.acquisition import UNKNOWN_ACQUISITION, Acquisition
from msklabel.io.chemical_shift import ChemicalShift
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, SIDED, KneeLabel
from msklabel.volume import Volume

#: Structures an automatic knee segmentation is expected to hold.
EXPECTED = (*BONES, *CARTILAGE_PLATES, *MENISCI)


class Verdict(enum.StrEnum):
    """How far a structure's measurements can be trusted."""

    PASS = "pass"
    DOUBTFUL = "doubtful"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Verdict.PASS: 0, Verdict.DOUBTFUL: 1, Verdict.FAIL: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe of ``verdicts`` (pass if none)."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.PASS)


@dataclass(frozen=True)
class Band:
    """Limits of one figure: pass within [low, high], doubtful within [fail_low, fail_high],
    fail outside."""

    fail_low: float
    low: float
    high: float
    fail_high: float

    def __post_init__(self) -> None:
        values = (self.fail_low, self.low, self.high, self.fail_high)
        if any(math.isnan(v) for v in values) or list(values) != sorted(values):
            raise ValueError(f"limits not ordered fail_low <= low <= high <= fail_high: {values}")

    @classmethod
    def of(cls, values: Sequence[float], name: str) -> Band:
        """A band from four numbers (a TOML list); ValueError naming ``name`` if not."""
        if isinstance(values, Band):
            return values
        if not isinstance(values, Sequence) or len(values) != 4:
            raise ValueError(f"{name}: need four numbers [fail_low, low, high, fail_high]")
        try:
            return cls(*(float(v) for v in values))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: {error}") from None

    def judge(self, value: float) -> Verdict:
        if self.low <= value <= self.high:
            return Verdict.PASS
        if self.fail_low <= value <= self.fail_high:
            return Verdict.DOUBTFUL
        return Verdict.FAIL

    def describe(self, unit: str = "") -> str:
        """The limits in words, e.g. ``pass 20-65 ms; fail below 12 or above 90``; with
        ``unit`` "%" the limits (fractions) are shown as percentages."""

        def text(value: float) -> str:
            return f"{value * 100:g}%" if unit == "%" else f"{value:g}"

        suffix = "" if unit in ("", "%") else f" {unit}"
        if self.low == self.high:
            passing = text(self.low)
        elif math.isinf(self.high):
            passing = f">= {text(self.low)}"
        elif self.low <= 0:
            passing = f"<= {text(self.high)}"
        else:
            passing = f"{text(self.low)}-{text(self.high)}"
        failing = []
        if self.fail_low < self.low or self.fail_low > 0:
            failing.append(f"below {text(self.fail_low)}")
        if self.fail_high > self.high and not math.isinf(self.fail_high):
            failing.append(f"above {text(self.fail_high)}")
        return f"pass {passing}{suffix}" + (f"; fail {' or '.join(failing)}" if failing else "")


INF = math.inf
#: What each figure is, for messages (``{bone}`` and the rule distances are filled in),
#: and its unit ("%": a fraction shown as a percentage).
DESCRIPTIONS = {
    "confidence": ("model confidence", ""),
    "zoom_spread": ("change of its size with a 10 % zoom of the slices", "%"),
    "rectangularity": ("box-likeness (share of its box each slice fills)", "%"),
    "near_bone_share": ("voxels within {near_bone_mm:g} mm of the {bone}", "%"),
    "inside_bone_share": ("voxels enclosed by bone", "%"),
    "fragment_share": ("voxels outside its main part", "%"),
    "between_bones_share": ("voxels within {between_bones_mm:g} mm of femur and tibia", "%"),
    "thickness_mean_mm": ("mean thickness", "mm"),
    "thickness_p95_mm": ("95th percentile thickness", "mm"),
    "area_mm2": ("bone interface area", "mm2"),
    "volume_mm3": ("volume", "mm3"),
    "bone_signal": ("median signal, as a share of the image's tissue median", "%"),
    "width_mm": ("left-right width (outermost voxel centres)", "mm"),
    "width_ratio": ("left-right width as a share of the femur's", "%"),
    "t2_median_ms": ("median T2 of its voxels", "ms"),
    "t2_fluid_share": ("voxels with the T2 of fluid (> {fluid_t2_ms:g} ms)", "%"),
}


#: Default limits by scope and figure (see docs/quality.md for their sources).
DEFAULT_BANDS: dict[str, dict[str, Band]] = {
    "all": {"confidence": Band(0.5, 0.7, 1.0, 1.0), "zoom_spread": Band(0.0, 0.0, 0.3, INF)},
    "cartilage": {
        "rectangularity": Band(0.0, 0.0, 0.7, 0.85),
        "near_bone_share": Band(0.75, 0.9, 1.0, 1.0),
        "inside_bone_share": Band(0.0, 0.0, 0.0, 0.05),
        "fragment_share": Band(0.0, 0.0, 0.1, 0.3),
        "t2_fluid_share": Band(0.0, 0.0, 0.15, 0.3),
        "thickness_mean_mm": Band(0.5, 1.0, 3.8, 5.0),
        "thickness_p95_mm": Band(0.0, 0.0, 6.0, 8.0),
        "volume_mm3": Band(100.0, 300.0, 30000.0, 60000.0),
    },
    "femoral_cartilage": {"area_mm2": Band(300.0, 600.0, INF, INF)},
    "medial_tibial_cartilage": {
        "area_mm2": Band(100.0, 200.0, INF, INF),
        "volume_mm3": Band(100.0, 300.0, 5000.0, 10000.0),
    },
    "lateral_tibial_cartilage": {
        "area_mm2": Band(100.0, 200.0, INF, INF),
        "volume_mm3": Band(100.0, 300.0, 5000.0, 10000.0),
    },
    "patellar_cartilage": {
        "area_mm2": Band(100.0, 200.0, INF, INF),
        "volume_mm3": Band(100.0, 300.0, 10000.0, 20000.0),
    },
    "meniscus": {
        "rectangularity": Band(0.0, 0.0, 0.7, 0.85),
        "inside_bone_share": Band(0.0, 0.0, 0.0, 0.05),
        "fragment_share": Band(0.0, 0.0, 0.1, 0.3),
        "t2_fluid_share": Band(0.0, 0.0, 0.15, 0.3),
        "between_bones_share": Band(0.6, 0.9, 1.0, 1.0),
        "volume_mm3": Band(100.0, 300.0, 10000.0, 20000.0),
    },
    "bone": {
        "volume_mm3": Band(1000.0, 3000.0, INF, INF),
        "bone_signal": Band(0.12, 0.2, INF, INF),
    },
    "femur": {"width_mm": Band(40.0, 55.0, 105.0, 125.0)},
    "tibia": {
        "width_mm": Band(35.0, 50.0, 95.0, 115.0),
        "width_ratio": Band(0.6, 0.75, 1.15, 1.4),
    },
    "patella": {"width_mm": Band(16.0, 24.0, 60.0, 75.0)},
}
#: Default T2 limits (ms) by field strength (tesla, as text) and scope.
DEFAULT_T2_BANDS: dict[str, dict[str, Band]] = {
    "3": {"cartilage": Band(12.0, 20.0, 65.0, 90.0), "meniscus": Band(3.0, 5.0, 35.0, 50.0)},
    "1.5": {"cartilage": Band(12.0, 20.0, 65.0, 90.0), "meniscus": Band(3.0, 5.0, 35.0, 50.0)},
}

#: Default of :attr:`QualityRules.chemical_shift_px`.
DEFAULT_CHEMICAL_SHIFT_PX = 1.2


@dataclass(frozen=True)
class QualityRules:
    """Every limit of the gate; ``source`` names where they came from."""

    bands: Mapping[str, Mapping[str, Band]] = field(default_factory=lambda: DEFAULT_BANDS)
    t2_bands: Mapping[str, Mapping[str, Band]] = field(default_factory=lambda: DEFAULT_T2_BANDS)
    field_strength_t: float = 3.0  #: assumed when the header gives none
    near_bone_mm: float = 4.0
    between_bones_mm: float = 20.0
    min_voxels: int = 20
    #: Largest fat-water shift (acquired pixels) without fat suppression that leaves a
    #: plate a pass (docs/quality.md: from the ablation in docs/simulation.md).
    chemical_shift_px: float = DEFAULT_CHEMICAL_SHIFT_PX
    source: str = "defaults"

    def band(self, metric: str, label: int) -> Band | None:
        """The limits of ``metric`` for ``label``: its own, else its group's, else all's."""
        for scope in _scopes(label):
            found = self.bands.get(scope, {}).get(metric)
            if found is not None:
                return found
        return None

    def t2_band(self, label: int, field_strength_t: float) -> tuple[Band | None, str]:
        """The T2 limits for ``label`` at the table nearest ``field_strength_t``, and its key."""
        key = min(self.t2_bands, key=lambda k: abs(float(k) - field_strength_t))
        table = self.t2_bands[key]
        for scope in _scopes(label):
            if scope in table:
                return table[scope], key
        return None, key


def _scopes(label: int) -> tuple[str, ...]:
    key = KneeLabel(label).key
    group = GROUPS.get(int(label))
    return (key, group, "all") if group else (key, "all")


DEFAULT_RULES = QualityRules()
_SCALARS = (
    "field_strength_t",
    "near_bone_mm",
    "between_bones_mm",
    "min_voxels",
    "chemical_shift_px",
)


def rules_from_mapping(data: Mapping[str, Any], source: str = "configuration") -> QualityRules:
    """Rules from a ``[quality]`` table (every key optional; limits override the defaults
    per scope and figure); :class:`InputError` naming ``source`` if a key or value is wrong.

    .. code-block:: toml

        [quality]
        field_strength_t = 3.0              # when the header has no MagneticFieldStrength
        near_bone_mm = 4.0
        chemical_shift_px = 1.2             # fat shift (px) above which plates are doubtful
        [quality.limits.cartilage]          # a group, a structure key, or "all"
        thickness_mean_mm = [0.5, 1.0, 3.8, 5.0]   # fail_low, low, high, fail_high
        [quality.t2_ms."3"]                 # T2 limits (ms) by field strength, then scope
        cartilage = [12, 20, 65, 90]
    """
    known = {*_SCALARS, "limits", "t2_ms"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(source, f"[quality]: unknown keys {unknown} (known: {sorted(known)})")
    scopes = {"all", "cartilage", "meniscus", "bone", *(label.key for label in KneeLabel)}
    try:
        bands = {scope: dict(table) for scope, table in DEFAULT_BANDS.items()}
        for scope, table in _table(data.get("limits", {}), "limits").items():
            if scope not in scopes:
                raise ValueError(f"[quality.limits]: unknown scope {scope!r}")
            for metric, values in _table(table, f"limits.{scope}").items():
                if metric not in DESCRIPTIONS or metric == "t2_median_ms":
                    raise ValueError(f"[quality.limits.{scope}]: unknown figure {metric!r}")
                bands.setdefault(scope, {})[metric] = Band.of(values, f"{scope}.{metric}")
        t2 = {key: dict(table) for key, table in DEFAULT_T2_BANDS.items()}
        for strength, table in _table(data.get("t2_ms", {}), "t2_ms").items():
            float(strength)
            for scope, values in _table(table, f"t2_ms.{strength}").items():
                if scope not in scopes:
                    raise ValueError(f"[quality.t2_ms.{strength}]: unknown scope {scope!r}")
                t2.setdefault(strength, {})[scope] = Band.of(values, f"t2_ms.{strength}.{scope}")
        scalars = {key: float(data[key]) for key in _SCALARS if key in data}
        if "min_voxels" in scalars:
            scalars["min_voxels"] = int(scalars["min_voxels"])
        if any(value <= 0 for value in scalars.values()):
            raise ValueError(f"[quality]: {', '.join(_SCALARS)} must be positive")
    except (TypeError, ValueError) as error:
        raise InputError(source, str(error)) from None
    return QualityRules(bands=bands, t2_bands=t2, source=source, **scalars)


def _table(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"[quality.{name}] must be a table")
    return value


def load_rules(path: str | os.PathLike[str]) -> QualityRules:
    """The rules in a TOML file: its ``[quality]`` table (or the whole file if it has none)."""
    try:
        with open(path, encoding="utf-8") as file:
            data = tomllib.loads(file.read())
    except OSError as error:
        raise InputError(path, f"cannot read the quality rules ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(path, f"not valid TOML: {error}") from None
    return rules_from_mapping(data.get("quality", data), os.fspath(path))


@dataclass(frozen=True)
class Reason:
    """Why a structure is not a plain pass: a machine code and a sentence."""

    code: str  #: e.g. ``empty``, ``tiny``, ``t2_median_ms:high``
    verdict: Verdict
    message: str


@dataclass(frozen=True)
class StructureQuality:
    """The verdict of one structure, its reasons and the figures they were judged on."""

    structure: str
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    evidence: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "reasons": [
                {"code": r.code, "verdict": r.verdict.value, "message": r.message}
                for r in self.reasons
            ],
            "evidence": {k: _rounded(v) for k, v in self.evidence.items()},
        }

    @classmethod
    def from_json(cls, structure: str, data: Mapping[str, Any]) -> StructureQuality:
        return cls(
            structure,
            Verdict(data["verdict"]),
            tuple(Reason(r["code"], Verdict(r["verdict"]), r["message"]) for r in data["reasons"]),
            dict(data.get("evidence", {})),
        )


def _rounded(value: float) -> float:
    return float(f"{value:.4g}")


@dataclass(frozen=True)
class QualityReport:
    """The verdicts of one label map's structures."""

    structures: Mapping[str, StructureQuality]
    field_strength_t: float
    field_strength_source: str  #: ``header`` or ``assumed``
    rules: str  #: where the limits came from

    def verdict(self, structure: str) -> Verdict | None:
        """The verdict of ``structure`` (a label key); None if it was not assessed."""
        found = self.structures.get(structure)
        return found.verdict if found else None

    def with_verdict(self, verdict: Verdict) -> list[str]:
        """The structures (keys) whose verdict is ``verdict``."""
        return [key for key, q in self.structures.items() if q.verdict == verdict]

    def split(self, measurements: Measurements) -> tuple[Measurements, Measurements]:
        """``measurements`` as (reported, withheld): a failed structure's are withheld."""
        failed = set(self.with_verdict(Verdict.FAIL))
        reported = Measurements(m for m in measurements if m.structure not in failed)
        withheld = Measurements(m for m in measurements if m.structure in failed)
        return reported, withheld

    def summary(self) -> str:
        """One line: counts, then each failed or doubtful structure with its reason codes."""
        counts = ", ".join(
            f"{len(self.with_verdict(v))} {v.value}" for v in Verdict if self.with_verdict(v)
        )
        flagged = [
            f"{key} {q.verdict.value} ({', '.join(r.code for r in q.reasons)})"
            for key, q in self.structures.items()
            if q.verdict != Verdict.PASS
        ]
        return "; ".join([counts or "nothing assessed", *flagged])

    def to_json(self) -> dict:
        return {
            "field_strength_t": self.field_strength_t,
            "field_strength_source": self.field_strength_source,
            "rules": self.rules,
            "structures": {key: q.to_json() for key, q in self.structures.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualityReport:
        return cls(
            {k: StructureQuality.from_json(k, v) for k, v in data["structures"].items()},
            float(data["field_strength_t"]),
            str(data["field_strength_source"]),
            str(data["rules"]),
        )


def confidence_from_scores(scores: Mapping[int, np.ndarray]) -> dict[int, float]:
    """Per label, the median of its per-slice scores over the slices it was segmented on
    (NaN elsewhere, as :class:`msklabel.segment.Segmentation` holds them); labels never
    segmented are left out."""
    found = {}
    for label, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size:
            found[int(label)] = float(np.clip(np.median(finite), 0.0, 1.0))
    return found


def assess_knee(
    labels: Volume,
    result: KneeBiomarkers,
    *,
    echoes: Sequence[Volume] = (),
    image: Volume | None = None,
    confidence: Mapping[int, float] | None = None,
    rules: QualityRules = DEFAULT_RULES,
    acquisition: Acquisition = UNKNOWN_ACQUISITION,
    expected: Iterable[int] = EXPECTED,
    sides_assumed: bool = False,
    zoom_spread: Mapping[int, float] | None = None,
) -> QualityReport:
    """The verdict of every knee structure in ``labels`` (and of every ``expected`` one),
    from ``result`` (:func:`~msklabel.biomarkers.knee.measure_knee` of the same labels),
    the ``echoes`` on the same grid (T2, from 2 or more), the ``image`` the labels were drawn
    on (the bones' signal; default: the first echo, if any), the segmenter's ``confidence``
    per label value and the series' ``acquisition``: its field strength (where not given,
    ``rules.field_strength_t`` is assumed) and chemical shift (where not given, not judged);
    ``sides_assumed``: the segmenter assumed which knee it was (medial and lateral doubtful);
    ``zoom_spread``: how much each label's size changed with the zoom the segmenter saw the
    slices at (:func:`msklabel.kneeseg.automatic.zoom_spread`), where it gives one."""
    figures = MaskFigures(labels, rules.near_bone_mm, rules.between_bones_mm)
    image = image if image is not None else (echoes[0] if echoes else None)
    signal = bone_signal(labels, image) if image is not None else {}
    given = acquisition.field_strength_t
    strength = rules.field_strength_t if given is None else float(given)
    t2 = t2_figures(labels, echoes) if len(echoes) >= 2 else {}
    present = figures.present
    structures: dict[str, StructureQuality] = {}
    for label in KneeLabel:
        if label not in present and label not in set(expected):
            continue
        measured = dict(_measured(result.measurements, label))
        if label in (confidence or {}):
            measured["confidence"] = float(confidence[label])  # type: ignore[index]
        if label in (zoom_spread or {}):
            measured["zoom_spread"] = float(zoom_spread[label])  # type: ignore[index]
        if label in signal:
            measured["bone_signal"] = signal[label]
        structures[label.key] = _judge(
            label,
            figures,
            measured,
            result.unmeasured,
            t2,
            rules,
            strength,
            acquisition.chemical_shift,
            sides_assumed,
        )
    return QualityReport(
        structures,
        strength,
        "assumed" if given is None else "header",
        rules.source,
    )


def _measured(measurements: Measurements, label: KneeLabel) -> Iterable[tuple[str, float]]:
    for name, quantity, derivation in (
        ("volume_mm3", "volume", None),
        ("area_mm2", "area", None),
        ("thickness_mean_mm", "thickness", "mean"),
        ("thickness_p95_mm", "thickness", "p95"),
    ):
        try:
            yield name, measurements.get(label.key, quantity, derivation)
        except KeyError:
            continue


def _judge(
    label: KneeLabel,
    figures: MaskFigures,
    measured: dict[str, float],
    unmeasured: Mapping[str, str],
    t2: Mapping[int, T2Figures],
    rules: QualityRules,
    strength: float,
    shift: ChemicalShift | None,
    sides_assumed: bool,
) -> StructureQuality:
    voxels = figures.voxels(label)
    if voxels == 0:
        return StructureQuality(
            label.key, Verdict.FAIL, (Reason("empty", Verdict.FAIL, "not segmented: no voxel"),)
        )
    evidence = {"voxels": float(voxels), **measured, **figures.shape_figures(label)}
    if label in t2:
        evidence["t2_median_ms"] = t2[label].median_ms
        evidence["t2_fluid_share"] = t2[label].fluid_share
    reasons = []
    if label.key in unmeasured:
        reasons.append(Reason("unmeasurable", Verdict.FAIL, unmeasured[label.key]))
    if voxels < rules.min_voxels:
        reasons.append(
            Reason("tiny", Verdict.FAIL, f"{voxels} voxels (fewer than {rules.min_voxels})")
        )
    for metric, value in evidence.items():
        if metric == "voxels":
            continue
        if metric == "t2_median_ms":
            band, key = rules.t2_band(label, strength)
            where = f" at {key} T"
        else:
            band, where = rules.band(metric, label), ""
        if band is None:
            continue
        verdict = band.judge(value)
        if verdict != Verdict.PASS:
            direction = "low" if value < band.low else "high"
            template, unit = DESCRIPTIONS[metric]
            name = template.format(
                bone=KneeLabel(PLATE_BONES.get(label, KneeLabel.FEMUR)).key,
                near_bone_mm=rules.near_bone_mm,
                between_bones_mm=rules.between_bones_mm,
                fluid_t2_ms=FLUID_T2_MS,
            )
            shown = f"{value:.1%}" if unit == "%" else f"{value:.3g}"
            message = f"{name}: {shown} ({band.describe(unit)}{where})"
            reasons.append(Reason(f"{metric}:{direction}", verdict, message))
    if label in (*CARTILAGE_PLATES, *MENISCI) and shift is not None:
        evidence["chemical_shift_px"] = shift.pixels
        if shift.fat_suppression is None and shift.pixels > rules.chemical_shift_px:
            message = (
                f"{shift.describe()} without fat suppression (doubtful above "
                f"{rules.chemical_shift_px:g} px): it may be drawn displaced along the readout"
            )
            reasons.append(Reason("chemical_shift", Verdict.DOUBTFUL, message))
    if sides_assumed and label in SIDED:
        message = (
            "which knee this is was assumed (no laterality in the header, and no fibula that "
            "clearly shows the lateral side): medial and lateral are swapped if it was wrong"
        )
        reasons.append(Reason("laterality", Verdict.DOUBTFUL, message))
    reasons.sort(key=lambda r: -r.verdict.rank)  # failing reasons first
    return StructureQuality(label.key, worst(r.verdict for r in reasons), tuple(reasons), evidence)


def write_biomarkers_json(
    path: str | os.PathLike[str],
    measurements: Measurements,
    quality: QualityReport,
    source: dict | None = None,
) -> None:
    """biomarkers.json: the reported rows under ``measurements`` (the layout every reader
    knows), a failed structure's rows under ``withheld``, and the verdicts under ``quality``."""
    reported, withheld = quality.split(measurements)
    extra = {"withheld": withheld.to_json()["measurements"], "quality": quality.to_json()}
    reported.write_json(path, source, extra)


def failed_structures(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """From a biomarkers.json mapping: each failed structure and the messages of its
    failing reasons (empty if the file holds no verdicts)."""
    structures = data.get("quality", {}).get("structures", {})
    return {
        key: [r["message"] for r in value.get("reasons", []) if r["verdict"] == Verdict.FAIL]
        for key, value in structures.items()
        if value.get("verdict") == Verdict.FAIL
    }
