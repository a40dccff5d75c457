"""Acquisition presets of the held-out knee simulation.

``clinical-3t`` follows the Osteoarthritis Initiative's sagittal 2D multi-echo spin-echo T2
map (Peterfy CG et al., Osteoarthritis Cartilage 2008;16:1433-1441: 3 T, TR 2700 ms, TE
10-70 ms in 7 echoes, 120 mm field of view, 384 x 269 matrix, 3 mm slices, 0.5 mm gap).
``clinical-1.5t`` is a typical 1.5 T T2-mapping protocol (8 echoes 13.8 ms apart, TR 1800 ms,
140 mm field, 256 x 192 matrix, 3 mm slices 4 mm apart). ``pd-fatsat`` is a clinical 3 T
proton-density fast spin echo with spectral fat saturation (TR 3000 ms, echo train of 8
echoes 10.5 ms apart, effective TE 31.5 ms, 140 mm field, 320 x 256 matrix, 3 mm slices,
0.3 mm gap).

B1 (transmit) scale: 3 T knee B1+ maps report flip angles of roughly 80-100 % of nominal;
1.5 T is closer to nominal. Pulses: Hann-windowed sincs, excitation time-bandwidth 2.7,
refocusing 2.0 (short refocusing pulses as multi-echo trains use); both assumed.

``chemical_shift=False`` (through :func:`dataclasses.replace`) keeps fat where its water is,
and another ``bandwidth_hz_per_pixel`` changes only the fat's displacement (the drawn anatomy,
fields and noise depend on the seed and the preset's name, not on either; the SNR stays the
preset's): how ``scripts/chemshift_ablation.py`` isolates the shift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from msklabel.io.chemical_shift import fat_shift_pixels


@dataclass(frozen=True)
class Preset:
    """Everything that defines an acquisition (times in ms, lengths in mm)."""

    name: str
    field_t: float
    echo_spacing: float
    echo_train: int
    #: Indices (0-based) of the train's echoes that become images.
    images: tuple[int, ...]
    repetition_time: float
    slice_thickness: float
    slice_gap: float
    slices: int
    fov_mm: float
    matrix: int  # reconstructed pixels per side
    acquired: tuple[int, int]  # k-space samples along readout (rows) and phase (columns)
    bandwidth_hz_per_pixel: float
    snr: float  # cartilage signal / noise standard deviation on the first image
    b1_range: tuple[float, float]
    fat_residual: tuple[float, float] | None = None  # fat saturation: remaining share
    chemical_shift: bool = True  # False: fat is not displaced along the readout
    excitation_tbw: float = 2.7
    refocusing_tbw: float = 2.0
    sub_slices: int = 11
    oversample: float = 1.5

    @property
    def fat_shift(self) -> float:
        """Displacement of fat along the readout (acquired pixels; 0 without the shift)."""
        if not self.chemical_shift:
            return 0.0
        return fat_shift_pixels(self.field_t, self.bandwidth_hz_per_pixel)

    @property
    def echo_times(self) -> tuple[float, ...]:
        return tuple(self.echo_spacing * (i + 1) for i in self.images)

    def resized(
        self, slices: int | None = None, matrix: int | None = None, echoes: int | None = None
    ) -> Preset:
        """The preset with fewer slices (centred), another matrix (k-space scaled alike) or
        the first ``echoes`` images."""
        out = self
        if slices is not None:
            if slices < 1:
                raise ValueError(f"slices must be positive, got {slices}")
            out = replace(out, slices=slices)
        if matrix is not None:
            if matrix < 16:
                raise ValueError(f"matrix must be at least 16, got {matrix}")
            ratio = matrix / self.matrix
            acquired = tuple(max(8, round(a * ratio)) for a in self.acquired)
            out = replace(out, matrix=matrix, acquired=acquired)  # type: ignore[arg-type]
        if echoes is not None:
            if not 1 <= echoes <= len(self.images):
                raise ValueError(f"echoes must lie in 1..{len(self.images)}, got {echoes}")
            out = replace(out, images=self.images[:echoes])
        return out


PRESETS: dict[str, Preset] = {
    "clinical-3t": Preset(
        name="clinical-3t",
        field_t=3.0,
        echo_spacing=10.0,
        echo_train=7,
        images=tuple(range(7)),
        repetition_time=2700.0,
        slice_thickness=3.0,
        slice_gap=0.5,
        slices=27,
        fov_mm=120.0,
        matrix=384,
        acquired=(384, 269),
        bandwidth_hz_per_pixel=250.0,
        snr=30.0,
        b1_range=(0.80, 0.95),
    ),
    "clinical-1.5t": Preset(
        name="clinical-1.5t",
        field_t=1.5,
        echo_spacing=13.8,
        echo_train=8,
        images=tuple(range(8)),
        repetition_time=1800.0,
        slice_thickness=3.0,
        slice_gap=1.0,
        slices=24,
        fov_mm=140.0,
        matrix=256,
        acquired=(256, 192),
        bandwidth_hz_per_pixel=130.0,
        snr=18.0,
        b1_range=(0.90, 1.00),
    ),
    "pd-fatsat": Preset(
        name="pd-fatsat",
        field_t=3.0,
        echo_spacing=10.5,
        echo_train=8,
        images=(2,),
        repetition_time=3000.0,
        slice_thickness=3.0,
        slice_gap=0.3,
        slices=30,
        fov_mm=140.0,
        matrix=320,
        acquired=(320, 256),
        bandwidth_hz_per_pixel=200.0,
        snr=35.0,
        b1_range=(0.80, 0.95),
        fat_residual=(0.03, 0.15),
        refocusing_tbw=2.7,
    ),
}


def preset(name: str) -> Preset:
    """The preset called ``name``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None
