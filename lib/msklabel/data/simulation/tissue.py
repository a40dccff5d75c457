"""Relaxation times and proton densities of knee tissues at 1.5 T and 3 T.

Sources (values rounded; in vivo human knee unless stated):

- [Gold04] Gold GE et al. Musculoskeletal MRI at 3.0 T: relaxation times and image
  contrast. AJR 2004;183:343-351 (cartilage, muscle, synovial fluid, marrow, subcutaneous
  fat at 1.5 T and 3 T; spin-echo T2, inversion-recovery T1).
- [Jordan13] Jordan CD et al. Musculoskeletal MRI at 3.0 T and 7.0 T: a comparison of
  relaxation times and image contrast. Eur J Radiol 2013;82:734-739 (3 T values agree
  with [Gold04] within their spread).
- [Rauscher08] Rauscher I et al. Meniscal measurements of T1rho and T2 at MR imaging in
  healthy subjects and patients with osteoarthritis. Radiology 2008;249:591-600 (meniscus
  T2 about 10-15 ms at 3 T by multi-echo spin echo).
- [Hamilton11] Hamilton G et al. In vivo characterization of the liver fat 1H MR spectrum.
  NMR Biomed 2011;24:784-790 (T2 of the main fat peak about 60-70 ms at 3 T).
- [Du10] Du J et al. Short T2 contrast with 3D UTE imaging. MRI 2010 (cortical bone T2*
  about 0.4-0.5 ms, ligaments and tendons 1-10 ms: no signal at TE >= 10 ms).
- Water contents (proton density relative to free water): cartilage 0.65-0.80 and meniscus
  about 0.72 of wet weight (Mow VC, Huiskes R, Basic Orthopaedic Biomechanics, 3rd ed.,
  2005); yellow marrow of the adult distal femur and proximal tibia is 80-90 % fat.

Meniscus T1, skin and ligament values are not well documented in vivo: the values used are
assumptions of the right order (marked ``assumed``). Values are means; each simulated study
scales every T2 by its own random factor (see :func:`jittered`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Component:
    """One spin pool: relative proton density, T1 and T2 (ms), and whether it is fat."""

    pd: float
    t1: float
    t2: float
    fat: bool = False


#: Spin pools per field strength (T). Keys are the pool names used by :data:`TISSUES`.
COMPONENTS: dict[float, dict[str, Component]] = {
    1.5: {
        "cartilage": Component(0.75, 1024.0, 42.0),  # [Gold04]
        "meniscus": Component(0.70, 800.0, 16.0),  # T2 [Rauscher08] scaled to 1.5 T; T1 assumed
        "muscle": Component(0.75, 1130.0, 35.0),  # [Gold04]
        "fluid": Component(0.95, 3620.0, 1200.0),  # [Gold04]
        "marrow_water": Component(0.80, 800.0, 40.0),  # assumed (red-marrow water share)
        "fat": Component(0.90, 343.0, 80.0, fat=True),  # T1 [Gold04]; CPMG T2 [Hamilton11]
        "skin": Component(0.70, 700.0, 30.0),  # assumed
        "ligament": Component(0.60, 700.0, 5.0),  # [Du10]
        "cortex": Component(0.20, 300.0, 0.5),  # [Du10]
    },
    3.0: {
        "cartilage": Component(0.75, 1240.0, 37.0),  # [Gold04], [Jordan13]
        "meniscus": Component(0.70, 1000.0, 13.0),  # T2 [Rauscher08]; T1 assumed
        "muscle": Component(0.75, 1420.0, 32.0),  # [Gold04]
        "fluid": Component(0.95, 4810.0, 770.0),  # [Gold04]
        "marrow_water": Component(0.80, 1000.0, 35.0),  # assumed (red-marrow water share)
        "fat": Component(0.90, 382.0, 68.0, fat=True),  # [Gold04], [Hamilton11]
        "skin": Component(0.70, 900.0, 28.0),  # assumed
        "ligament": Component(0.60, 900.0, 4.0),  # [Du10]
        "cortex": Component(0.20, 350.0, 0.4),  # [Du10]
    },
}

#: Tissues as mixtures of pools (fractions of each pool's proton density).
TISSUES: dict[str, dict[str, float]] = {
    "air": {},
    "cortex": {"cortex": 1.0},
    "marrow": {"fat": 0.85, "marrow_water": 0.15},  # yellow marrow, 80-90 % fat
    "cartilage": {"cartilage": 1.0},
    "meniscus": {"meniscus": 1.0},
    "muscle": {"muscle": 0.95, "fat": 0.05},  # intramuscular fat
    "fat": {"fat": 0.95, "muscle": 0.05},  # subcutaneous and deep fat with septa
    "skin": {"skin": 1.0},
    "fluid": {"fluid": 1.0},
    "ligament": {"ligament": 1.0},
}
TISSUE_NAMES = tuple(TISSUES)
TISSUE_INDEX = {name: i for i, name in enumerate(TISSUE_NAMES)}


def jittered(field_t: float, rng: np.random.Generator, spread: float = 0.1) -> dict[str, Component]:
    """The pools at ``field_t`` with every T2 and T1 scaled by ``1 +- spread`` (uniform, one
    factor per pool): one subject's tissues."""
    if field_t not in COMPONENTS:
        raise ValueError(f"no tissue table for {field_t} T (known: {sorted(COMPONENTS)})")
    return {
        name: replace(
            pool,
            t1=pool.t1 * rng.uniform(1 - spread, 1 + spread),
            t2=pool.t2 * rng.uniform(1 - spread, 1 + spread),
        )
        for name, pool in COMPONENTS[field_t].items()
    }
