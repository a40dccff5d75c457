from pathlib import Path

import pytest

from msklabel.dicomweb import DicomWebAuth
from msklabel.errors import InputError
from msklabel.evaluation.datasets import (
    DicomDataset,
    DicomWebDataset,
    MonaiLabelDataset,
    PhantomDataset,
    SimulationDataset,
)
from msklabel.evaluation.plan import PlanError, load_plan, plan_from_dict
from msklabel.evaluation.prompts import PromptMode
from msklabel.labels import KneeLabel

GOOD = """
structures = ["femur", "femoral_cartilage"]
surface_tolerance_mm = 2.0

[[datasets]]
name = "phantoms"
kind = "phantom"
seeds = [0, 1]
config = { spacing = [6.0, 1.5, 1.5], echo_times = [10.0, 40.0] }
strata = { site = "A" }

[[datasets]]
name = "sim"
kind = "simulation"
preset = "pd-fatsat"
seeds = [3]
slices = 8

[[datasets]]
name = "site-b"
kind = "dicom"
path = "site-b"
labels = { femur = 7 }

[[datasets]]
name = "pacs"
kind = "dicomweb"
url = "http://pacs:8042/dicom-web/"

[[datasets]]
name = "annotated"
kind = "monailabel"
path = "studies"

[[models]]
model = "kneeseg"

[[models]]
name = "lite"
model = "litemedsam"
prompts = ["oracle-box", "detector", "clicks:3", "box+clicks:2"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


def test_a_plan_becomes_typed_datasets_and_models(tmp_path):
    plan = load_plan(_write(tmp_path, GOOD))
    assert plan.structures == (KneeLabel.FEMUR, KneeLabel.FEMORAL_CARTILAGE)
    assert plan.surface_tolerance_mm == 2.0 and plan.per_slice is False
    assert load_plan(_write(tmp_path, "per_slice = true\n" + GOOD)).per_slice is True
    phantoms, sim, site, pacs, annotated = plan.datasets
    assert isinstance(phantoms, PhantomDataset) and phantoms.case_names() == ["seed-0", "seed-1"]
    assert phantoms.config["spacing"] == (6.0, 1.5, 1.5) and phantoms.strata == {"site": "A"}
    assert isinstance(sim, SimulationDataset) and (sim.preset, sim.slices) == ("pd-fatsat", 8)
    assert isinstance(site, DicomDataset) and site.path == tmp_path / "site-b"
    assert site.labels == {"femur": 7}
    assert isinstance(pacs, DicomWebDataset) and pacs.url == "http://pacs:8042/dicom-web"
    assert isinstance(annotated, MonaiLabelDataset) and annotated.path == tmp_path / "studies"
    assert annotated.label_dir == "labels/final"
    kneeseg, lite = plan.models
    assert (kneeseg.name, kneeseg.prompts) == ("kneeseg", (PromptMode("automatic"),))
    assert [str(mode) for mode in lite.prompts] == [
        "oracle-box", "detector", "clicks:3", "box+clicks:2"
    ]  # fmt: skip
    assert (kneeseg.runtime, lite.runtime) == ("torch", "torch")
    onnx = load_plan(
        _write(
            tmp_path, GOOD.replace('model = "litemedsam"', 'model = "litemedsam"\nruntime = "onnx"')
        )
    )
    assert onnx.models[1].runtime == "onnx"
    mode = lite.prompts[0]
    assert onnx.models[1].fingerprint(mode) == {**lite.fingerprint(mode), "runtime": "onnx"}
    # the definition digests a cache relies on: stable, and different for another definition
    assert phantoms.fingerprint() == load_plan(_write(tmp_path, GOOD)).datasets[0].fingerprint()
    assert phantoms.fingerprint() != sim.fingerprint()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("seeds = [0, 1]", "seeds = [0, -1]"), r"datasets\[0\]\.seeds: must be a non-empty list"),
        (('kind = "phantom"', 'kind = "pacs"'), r"datasets\[0\]\.kind: unknown kind 'pacs'"),
        (
            ("spacing = [6.0, 1.5, 1.5]", "spacing = [60.0, 1.5, 1.5]"),
            r"datasets\[0\]\.config: PhantomConfig: spacing must be 0\.1\.\.10 mm",
        ),
        (("spacing =", "spacings ="), r"datasets\[0\]\.config: .*unexpected keyword .*spacings"),
        (('preset = "pd-fatsat"', 'preset = "7t"'), r"datasets\[1\]\.preset: unknown preset '7t'"),
        (
            ("labels = { femur = 7 }", "labels = { femurs = 7 }"),
            r"datasets\[2\]\.labels\.femurs: unknown structure 'femurs'",
        ),
        (('"femoral_cartilage"]', '"cartilage"]'), r"structures\[1\]: unknown structure"),
        (('"clicks:3"', '"clicks"'), r"models\[1\]\.prompts: clicks needs a number of clicks"),
        (
            ('model = "kneeseg"', 'model = "kneeseg"\nprompts = ["oracle-box"]'),
            r"models\[0\]\.prompts: kneeseg cannot be prompted by oracle-box",
        ),
        (('model = "litemedsam"', 'model = "unet"'), r"models\[1\]\.model: unknown model 'unet'"),
        (
            ('model = "litemedsam"', 'model = "sam"\ncheckpoint = "no.pt"'),
            r"models\[1\]\.checkpoint: no such file",
        ),
        (
            ('model = "litemedsam"', 'model = "sam"\nruntime = "onnx"'),
            r"models\[1\]\.runtime: the sam backend runs in torch only, not 'onnx'",
        ),
        (
            ('model = "litemedsam"', 'model = "litemedsam"\nruntime = "tvm"'),
            r"models\[1\]\.runtime: unknown runtime 'tvm'",
        ),
        (('name = "sim"', 'name = "phantoms"'), r"datasets: names must be unique"),
        (
            ("surface_tolerance_mm = 2.0", "surface_tolerance = 2.0"),
            r"plan\.toml: unknown keys \['surface_tolerance'\]",
        ),
        (("slices = 8", "slices = 8\nsizes = 2"), r"datasets\[1\]: unknown keys \['sizes'\]"),
        (("seeds = [3]", 'seeds = "3"'), r"datasets\[1\]\.seeds: must be a list, got '3'"),
        (('url = "http://', 'url = "'), r"datasets\[3\]\.url: must be an http\(s\) URL"),
        (
            ('8042/dicom-web/"', '8042/dicom-web/"\nuser = "r"\npassword = "hunter2"'),
            r"datasets\[3\]\.password: never write a secret in a configuration file: name the "
            r"environment variable that holds it with password_env",
        ),
        (
            ('8042/dicom-web/"', '8042/dicom-web/"\nuser = "r"'),
            r"datasets\[3\]\.password_env: missing: name the environment variable",
        ),
        (
            ('8042/dicom-web/"', '8042/dicom-web/"\nuser = "r"\ntoken_env = "T"'),
            r"datasets\[3\]\.token_env: give user and password_env \(HTTP basic\) or token_env",
        ),
        (
            ('8042/dicom-web/"', '8042/dicom-web/"\ntoken_env = "MSKLABEL_TEST_UNSET"'),
            r"datasets\[3\]\.token_env: environment variable MSKLABEL_TEST_UNSET is not set",
        ),
        (
            ("surface_tolerance_mm = 2.0", 'surface_tolerance_mm = 2.0\nper_slice = "yes"'),
            r"plan\.toml: per_slice: must be true or false, got 'yes'",
        ),
    ],
)
def test_a_bad_plan_names_its_file_and_key(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(PlanError, match=r"plan\.toml: " + message.removeprefix(r"plan\.toml: ")):
        load_plan(_write(tmp_path, GOOD.replace(old, new, 1)))


def test_a_dicomweb_login_names_its_secret_s_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PACS_PASSWORD", "pw")
    text = GOOD.replace(
        '8042/dicom-web/"', '8042/dicom-web/"\nuser = "r"\npassword_env = "PACS_PASSWORD"'
    )
    pacs = load_plan(_write(tmp_path, text)).datasets[3]
    assert pacs.auth == DicomWebAuth(user="r", password_env="PACS_PASSWORD")
    # how to log in is no part of the cases: results cached without a login are reused
    assert pacs.fingerprint() == load_plan(_write(tmp_path, GOOD)).datasets[3].fingerprint()


def test_unreadable_plans(tmp_path):
    with pytest.raises(InputError, match="no such plan file"):
        load_plan(tmp_path / "missing.toml")
    with pytest.raises(InputError, match="not a readable TOML file"):
        load_plan(_write(tmp_path, "structures = [femur"))
    with pytest.raises(PlanError, match="<plan>: datasets: missing"):
        plan_from_dict({"structures": ["femur"], "models": [{"model": "kneeseg"}]})
