import numpy as np
import pydicom
import pytest

from msklabel.data.phantom import PhantomConfig, make_phantom, save_phantom
from msklabel.errors import InputError
from msklabel.evaluation.datasets import (
    DicomDataset,
    DicomWebDataset,
    MonaiLabelDataset,
    NiftiDataset,
    PhantomDataset,
)
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


@pytest.mark.slow
def test_a_dicomweb_dataset_reads_studies_with_a_seg_from_orthanc(tmp_path, orthanc):
    from dicomweb_client.api import DICOMwebClient

    from msklabel.dicom.seg import make_segmentation, read_source_images
    from msklabel.io import read_echoes

    phantom = make_phantom(PhantomConfig(seed=0, **CONFIG))
    files = save_phantom(phantom, tmp_path / "with-seg")
    echoes = read_echoes(files.dicom_dir)
    seg = make_segmentation(echoes[0].with_array(phantom.labels.array),
                            read_source_images(echoes[0]))  # fmt: skip
    unlabelled = save_phantom(make_phantom(PhantomConfig(seed=1, **CONFIG)), tmp_path / "none")
    paths = sorted(files.dicom_dir.rglob("*.dcm")) + sorted(unlabelled.dicom_dir.rglob("*.dcm"))
    instances = [pydicom.dcmread(path) for path in paths]
    DICOMwebClient(url=orthanc.dicomweb_url).store_instances([*instances, seg])

    dataset = DicomWebDataset(name="pacs", url=orthanc.dicomweb_url, strata={"site": "B"})
    study = str(instances[0].StudyInstanceUID)
    assert dataset.case_names() == [study]  # the study without a SEG is no case
    case = dataset.load(study)
    assert [v.echo_time for v in case.echoes] == [10.0, 40.0]
    for read, generated in zip(case.echoes, phantom.echoes, strict=True):
        np.testing.assert_array_equal(read.array, generated.array)
    np.testing.assert_array_equal(case.reference.array, phantom.labels.array)
    assert case.strata["scanning_sequence"] == "SE" and case.strata["site"] == "B"
    assert case.strata["echo_times_ms"] == "10/40"
    with pytest.raises(InputError, match="0 SEG series, need one"):
        dataset.load(str(instances[-1].StudyInstanceUID))


@pytest.mark.slow
def test_a_dicomweb_dataset_logs_in_to_orthanc_without_showing_the_password(
    tmp_path, monkeypatch, caplog, perfect
):
    """Orthanc with HTTP basic authentication: the right login reads the dataset and runs a
    plan; a wrong, missing or unset one fails naming the dataset; the password is in no log
    line, error, table or cache file."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    from msklabel.dicom.seg import make_segmentation, read_source_images
    from msklabel.evaluation.plan import load_plan
    from msklabel.evaluation.runner import Evaluator
    from msklabel.io import read_echoes
    from msklabel.testing.orthanc import OrthancServer

    caplog.set_level("DEBUG")
    password = "pw-5d1c0e7a93"
    phantom = make_phantom(PhantomConfig(seed=0, **CONFIG))
    files = save_phantom(phantom, tmp_path / "with-seg")
    echoes = read_echoes(files.dicom_dir)
    seg = make_segmentation(echoes[0].with_array(phantom.labels.array),
                            read_source_images(echoes[0]))  # fmt: skip
    instances = [pydicom.dcmread(path) for path in sorted(files.dicom_dir.rglob("*.dcm"))]
    study = str(instances[0].StudyInstanceUID)
    with OrthancServer(users={"radiology": password}) as orthanc:
        session = requests.Session()
        session.auth = ("radiology", password)
        DICOMwebClient(url=orthanc.dicomweb_url, session=session).store_instances([*instances, seg])
        plan = tmp_path / "plan.toml"
        plan.write_text(f"""
            structures = ["femur", "femoral_cartilage"]
            biomarkers = false
            [[datasets]]
            name = "pacs"
            kind = "dicomweb"
            url = "{orthanc.dicomweb_url}"
            user = "radiology"
            password_env = "PACS_PASSWORD"
            [[models]]
            model = "kneeseg"
        """)
        with pytest.raises(
            InputError,
            match=r"plan\.toml: datasets\[0\]\.password_env: "
            r"environment variable PACS_PASSWORD is not set",
        ):
            load_plan(plan)  # fmt: skip
        monkeypatch.setenv("PACS_PASSWORD", password)
        result = Evaluator(load_plan(plan), tmp_path / "out", progress=False).run()
        assert result.errors == [] and list(result.cases["case"].unique()) == [study]
        assert (result.cases["dice"] == 1).all()
        dataset = load_plan(plan).datasets[0]
        np.testing.assert_array_equal(dataset.load(study).reference.array, phantom.labels.array)

        refused = r"dataset 'pacs': the server refused the login \(%s; HTTP 401\)"
        monkeypatch.setenv("PACS_PASSWORD", "wrong-password")
        with pytest.raises(
            InputError,
            match=refused % r"user 'radiology' with the password in "
            r"\$PACS_PASSWORD",
        ):
            dataset.case_names()  # fmt: skip
        with pytest.raises(InputError, match=refused % "no credentials given"):
            DicomWebDataset(name="pacs", url=orthanc.dicomweb_url).case_names()
        monkeypatch.delenv("PACS_PASSWORD")
        with pytest.raises(
            InputError, match="dataset 'pacs': environment variable PACS_PASSWORD is not set"
        ):
            dataset.load(study)  # fmt: skip
    assert caplog.records and password not in caplog.text
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_a_monai_label_datastore_gives_its_images_with_a_final_label(tmp_path):
    from monailabel.datastore.local import LocalDatastore

    case = PhantomDataset(name="gen", seeds=(0,), config=CONFIG).load("seed-0")
    studies = tmp_path / "studies"
    studies.mkdir()
    for name in ("knee1", "knee2"):
        write_nifti(case.image, studies / f"{name}.nii.gz")
    write_nifti(case.reference, tmp_path / "corrected.nii.gz")
    store = LocalDatastore(str(studies), extensions=("*.nii.gz",), auto_reload=False)
    store.save_label("knee2", str(tmp_path / "corrected.nii.gz"), "final", {})

    dataset = MonaiLabelDataset(name="annotated", path=studies)
    assert dataset.case_names() == ["knee2"]  # knee1 has no final label yet
    loaded = dataset.load("knee2")
    np.testing.assert_array_equal(loaded.reference.array, case.reference.array)
    np.testing.assert_allclose(loaded.image.array, case.image.array)
    with pytest.raises(InputError, match="no image has a final label"):
        MonaiLabelDataset(name="empty", path=tmp_path, image_dir=".").case_names()
