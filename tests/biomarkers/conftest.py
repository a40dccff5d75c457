"""Knee phantoms measured once per session."""

from __future__ import annotations

import pytest

from msklabel.biomarkers.knee import KneeBiomarkers, measure_knee
from msklabel.data.phantom import Phantom, PhantomConfig, make_phantom

#: name -> (orientation, spacing (slice, row, column) mm, regionally varying thickness)
PHANTOMS = {
    "sagittal": ("sagittal", (1.5, 0.6, 0.6), False),
    "oblique": ("oblique", (1.5, 0.6, 0.6), True),
    "axial": ("axial", (1.0, 0.5, 0.5), True),
}


@pytest.fixture(scope="session", params=sorted(PHANTOMS))
def measured_phantom(request) -> tuple[Phantom, KneeBiomarkers]:
    orientation, spacing, regional = PHANTOMS[request.param]
    phantom = make_phantom(
        PhantomConfig(orientation=orientation, spacing=spacing, regional_thickness=regional)
    )
    return phantom, measure_knee(phantom.labels, echoes=phantom.echoes)
