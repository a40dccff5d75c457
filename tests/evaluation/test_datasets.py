import numpy as np
import pytest

from msklabel.data.phantom import PhantomConfig, make_phantom, save_phantom
from msklabel.errors import InputError
from msklabel.evaluation.datasets import DicomDataset, NiftiDataset, PhantomDataset
from msklabel.io.nifti import write_nifti
from msklabel.labels import KneeLabel

CONFIG = {"spacing": (10.0, 2.0, 2.0), "echo_times": (10.0, 40.0), "supersampling": 1,
          "fov_mm": 140}  # fmt: skip


@pytest.mark.slow
def test_phantom_dicom_and_nifti_datasets_give_the_same_case(tmp_path):
    generated = PhantomDataset(name="gen", seeds=(0,), config=CONFIG, strata={"site": "A"})
    case = generated.load("seed-0")
    assert case.strata["site"] == "A" and case.strata["dataset"] == "gen"
    save_phantom(make_phantom(PhantomConfig(seed=0, **CONFIG)), tmp_path / "dicom" / "knee1")
    written = DicomDataset(name="files", path=tmp_path / "dicom", reference="labels.nii.gz")
    assert written.case_names() == ["knee1"]
    read = written.load("knee1")
    assert [v.echo_time for v in read.echoes] == [10.0, 40.0]
    assert np.array_equal(read.reference.array, case.reference.array)
    # the strata of a generated case are what its DICOM header says
    header = {k: v for k, v in read.strata.items() if k not in ("dataset", "preset")}
    assert header == {k: v for k, v in case.strata.items() if k in header}
    assert header["scanning_sequence"] == "SE" and header["echo_times_ms"] == "10/40"

    # a NIfTI dataset whose files number femur 7 and femoral cartilage 9
    (tmp_path / "nifti" / "images").mkdir(parents=True)
    (tmp_path / "nifti" / "labels").mkdir()
    write_nifti(case.image, tmp_path / "nifti" / "images" / "knee1.nii.gz")
    theirs = np.zeros(case.reference.shape, np.uint8)
    theirs[case.reference.array == KneeLabel.FEMUR] = 7
    theirs[case.reference.array == KneeLabel.FEMORAL_CARTILAGE] = 9
    write_nifti(case.reference.with_array(theirs), tmp_path / "nifti" / "labels" / "knee1.nii.gz")
    nifti = NiftiDataset(name="n", path=tmp_path / "nifti",
                         labels={"femur": 7, "femoral_cartilage": 9})  # fmt: skip
    mapped = nifti.load("knee1").reference.array
    assert set(np.unique(mapped)) == {0, KneeLabel.FEMUR, KneeLabel.FEMORAL_CARTILAGE}
    assert np.array_equal(mapped == KneeLabel.FEMUR, case.reference.array == KneeLabel.FEMUR)
    with pytest.raises(InputError, match="none of the label values"):
        NiftiDataset(name="n", path=tmp_path / "nifti", labels={"tibia": 3}).load("knee1")
    with pytest.raises(InputError, match="no such folder"):
        NiftiDataset(name="n", path=tmp_path / "missing").case_names()
