"""The summary of an evaluation: segmentation metrics with CIs and biomarker agreement per
model x prompt mode x structure, overall and per stratum, and flags where strata differ."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from msklabel.evaluation.agreement import bland_altman, icc, lin_ccc, mean_ci

#: Metrics summarised by their mean and its 95 % CI.
METRICS = ("dice", "iou", "surface_dice", "hd95_mm", "volume_difference_mm3", "seconds",
           "peak_rss_mib")  # fmt: skip
#: Metrics compared between strata.
FLAGGED = ("dice", "surface_dice")
CONFIGURATION = ["model", "prompt"]
BIOMARKER = ["structure", "quantity", "derivation", "region"]


def summarise(cases: pd.DataFrame, biomarkers: pd.DataFrame, strata: Sequence[str]) -> dict:
    """``segmentation``, ``biomarkers`` and ``flags``: lists of JSON-ready entries, each
    with its ``stratum`` (a column name, or ``all``) and ``level`` (its value)."""
    cases = cases[cases["error"].isna()]
    segmentation = [
        {**keys, "n": len(group), **{m: asdict(mean_ci(group[m])) for m in METRICS}}
        for keys, group in _groups(cases, [*CONFIGURATION, "structure"], strata)
    ]
    agreement = [
        {**keys, **_agreement(group["predicted"], group["reference"])}
        for keys, group in _groups(biomarkers, [*CONFIGURATION, *BIOMARKER], strata)
    ]
    return {"segmentation": segmentation, "biomarkers": agreement,
            "flags": stratum_flags(segmentation)}  # fmt: skip


def stratum_flags(segmentation: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where a model's metric differs between two levels of a stratum beyond its CI: their
    95 % confidence intervals of the mean do not overlap."""
    flags = []
    key = lambda e: (e["model"], e["prompt"], e["structure"], e["stratum"])  # noqa: E731
    entries = sorted((e for e in segmentation if e["stratum"] != "all"), key=key)
    for (model, prompt, structure, stratum), group in itertools.groupby(entries, key):
        for a, b in itertools.combinations(list(group), 2):
            for metric in FLAGGED:
                x, y = a[metric], b[metric]
                if x["high"] < y["low"] or y["high"] < x["low"]:
                    flags.append({
                        "model": model, "prompt": prompt, "structure": structure,
                        "metric": metric, "stratum": stratum,
                        "levels": [a["level"], b["level"]], "means": [x["value"], y["value"]],
                        "intervals": [[x["low"], x["high"]], [y["low"], y["high"]]],
                    })  # fmt: skip
    return flags


def _groups(table: pd.DataFrame, keys: list[str], strata: Sequence[str]):
    """``(keys and stratum, rows)`` for every group of ``keys``, overall and per level of
    each stratum column that has one (rows of an unknown level are left out)."""
    for stratum in ("all", *strata):
        by = keys if stratum == "all" else [*keys, stratum]
        if stratum != "all" and table[stratum].isna().all():
            continue
        for values, group in table.groupby(by, dropna=False, sort=True):
            named = dict(zip(by, values, strict=True))
            level = named.pop(stratum, "all")
            if pd.isna(level):
                continue
            yield {**_plain(named), "stratum": stratum, "level": _plain(level)}, group


def _agreement(predicted: pd.Series, reference: pd.Series) -> dict[str, Any]:
    """Bland-Altman bias and limits (from 2 pairs), CCC and ICCs with CIs (from 3 pairs) of
    the pairs where both values exist; ``missing`` counts the others."""
    both = predicted.notna() & reference.notna()
    x, y = predicted[both].to_numpy(float), reference[both].to_numpy(float)
    entry: dict[str, Any] = {"n": int(both.sum()), "missing": int((~both).sum())}
    if len(x) >= 2:
        entry["bland_altman"] = asdict(bland_altman(x, y))
    if len(x) >= 3:
        with np.errstate(divide="ignore", invalid="ignore"):
            entry["ccc"] = lin_ccc(x, y)
            entry |= {name: asdict(value) for name, value in icc(np.c_[x, y]).items()}
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value
