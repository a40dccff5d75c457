"""Label-efficient heads: the stacked models on study embeddings, alone or with biomarkers."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from msklabel.cli import clinical as clinical_cli
from msklabel.clinical.cohort import finding_column, normal_reference_table
from msklabel.clinical.embeddings import (
    feature_blocks,
    model_feature_names,
    model_features,
    read_embeddings,
)
from msklabel.clinical.features import KNEE, ReferenceCohort, feature_names
from msklabel.clinical.imaging import (
    EFFUSION_COLUMN,
    EFFUSION_MM,
    embed_knees,
    knee_images,
    synthetic_imaging_cohort,
)
from msklabel.clinical.stacking import StackedClassifier
from msklabel.clinical.workflow import predict_study, predict_triage, train_risk, train_triage
from msklabel.errors import InputError
from msklabel.features import EncoderEmbedder, StudyEmbedding, save_embedding
from msklabel.volume import Volume


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="msklabel")
    clinical_cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def _vectors(table: pd.DataFrame, seed: int = 0) -> dict[str, np.ndarray]:
    """Stand-in study vectors: dimension 0 shows the knee's effusion, the rest is noise."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, (len(table), 8))
    values[:, 0] += table[EFFUSION_COLUMN].to_numpy() if EFFUSION_COLUMN in table else 0.0
    return dict(zip(table[KNEE].astype(str), values, strict=True))


def test_imaging_cohort_has_an_effusion_where_its_other_finding_is() -> None:
    table = synthetic_imaging_cohort(300, seed=2)
    other = table[finding_column("other")] == 1
    assert 0.15 < other.mean() < 0.5
    assert (table.loc[~other, EFFUSION_COLUMN] == 0).all()
    assert table.loc[other, EFFUSION_COLUMN].between(*EFFUSION_MM).all()
    assert table["target_any"][other].eq(1).all()


def test_feature_sets_stack_embeddings_before_biomarkers() -> None:
    biomarkers = np.arange(6.0).reshape(3, 2)
    embeddings = {"a": np.array([1.0, 2.0, 3.0]), "b": np.zeros(3), "c": np.ones(3)}
    both = model_features(biomarkers, ["c", "a", "b"], embeddings, "embeddings+biomarkers")
    assert both.shape == (3, 5)
    assert both[1].tolist() == [1.0, 2.0, 3.0, 2.0, 3.0]
    assert model_features(biomarkers, "abc", None, "biomarkers") is not None
    assert model_feature_names(["x", "y"], 5, "embeddings+biomarkers")[-3:] == [
        "embedding_2", "x", "y",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="need the knees' embeddings"):
        model_features(biomarkers, "abc", None, "embeddings")
    with pytest.raises(ValueError, match="no embedding for the knees d"):
        model_features(biomarkers, "abd", embeddings, "embeddings")
    with pytest.raises(ValueError, match="unknown feature set"):
        model_features(biomarkers, "abc", embeddings, "pixels")


def test_embeddings_are_read_per_knee_from_one_encoder(tmp_path: Path) -> None:
    means = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    peaks = np.array([[3.0, 4.0], [3.0, 4.0]], np.float32)
    for knee, model in (("k1", "litemedsam:abc"), ("k2", "litemedsam:abc"), ("k3", "dinov2:x")):
        embedding = StudyEmbedding(means, np.arange(2), model, "f" * 64, peaks)
        save_embedding(embedding, tmp_path / knee)
    save_embedding(StudyEmbedding(means, np.arange(2), "litemedsam:abc", "f" * 64), tmp_path / "k5")
    vectors = read_embeddings(tmp_path, ["k2", "k1", "k2"])
    assert list(vectors) == ["k2", "k1"]
    assert np.allclose(vectors["k1"], [0.6, 0.8])  # the peaks, pooled
    with pytest.raises(InputError, match="no slice peaks"):
        read_embeddings(tmp_path, ["k5"])
    with pytest.raises(InputError, match="different encoders"):
        read_embeddings(tmp_path, ["k1", "k3"])
    with pytest.raises(InputError, match="no saved embedding"):
        read_embeddings(tmp_path, ["k4"])
    with pytest.raises(InputError, match="plain folder name"):
        read_embeddings(tmp_path, ["../k1"])


@pytest.mark.slow
def test_triage_and_risk_fit_on_embeddings(
    reference: ReferenceCohort, longitudinal_cohort: pd.DataFrame
) -> None:
    table = synthetic_imaging_cohort(200, seed=5)
    vectors = _vectors(table)
    run = train_triage(
        table, reference, boosting=False, n_splits=3, n_boot=20, name="heads",
        features="embeddings+biomarkers", embeddings=vectors,
    )  # fmt: skip
    assert run.bundle.settings["features"] == "embeddings+biomarkers"
    assert run.bundle.card.details["features"] == "embeddings+biomarkers"
    assert run.evaluation is not None and run.evaluation.stages["any"].auc.value > 0.75
    assert run.bundle.estimator.models_["any"].blocks == (8, len(feature_names()))
    assert run.bundle.estimator.n_features_in_ == 8 + len(feature_names())
    predictions = predict_triage(run.bundle, table.iloc[:10], vectors)
    assert predictions["p_any"].between(0, 1).all()
    with pytest.raises(ValueError, match="need the knees' embeddings"):
        predict_triage(run.bundle, table.iloc[:10])
    with pytest.raises(ValueError, match="fitted on embeddings"):
        predict_study({}, [run.bundle])

    risk = train_risk(
        longitudinal_cohort, reference, "tkr", boosting=False, evaluate=False,
        landmarks=(0, 24), features="embeddings", embeddings=_vectors(longitudinal_cohort),
    )  # fmt: skip
    assert risk.bundle.estimator.n_features_in_ == 8


class _MeanEncoder:
    """A stand-in encoder: each slice's 4 x 4 block means as a 1-channel feature map."""

    model_id = "stand-in"

    def feature_maps(self, volume: Volume, indices: Sequence[int]) -> Iterator[torch.Tensor]:
        for k in indices:
            image = torch.from_numpy(np.asarray(volume.array[k], np.float32))[None]
            yield F.avg_pool2d(image, 4)


@pytest.mark.slow
def test_the_effusion_is_drawn_into_each_knees_image_and_embedded(tmp_path: Path) -> None:
    """The same anatomy with and without its effusion: the effusion brightens the image
    (fluid, bright with fat saturation) and moves its peak vector; the saved embeddings
    are what the heads read."""
    table = synthetic_imaging_cohort(6, seed=4)
    knees = list(knee_images(table, seed=4, slices=1, matrix=64))
    assert [k for k, _ in knees] == table[KNEE].tolist()
    dry = table.assign(**{EFFUSION_COLUMN: 0.0})
    wet = table.assign(**{EFFUSION_COLUMN: 5.0})
    first_dry = next(knee_images(dry, seed=4, slices=1, matrix=64))[1].array
    first_wet = next(knee_images(wet, seed=4, slices=1, matrix=64))[1].array
    brighter = first_wet - first_dry
    assert brighter.sum() > 0.02 * first_dry.sum() and (brighter > 300).sum() >= 20

    embedder = EncoderEmbedder(_MeanEncoder(), "0" * 64)
    folders = embed_knees(iter(knees), embedder, tmp_path)
    assert [f.name for f in folders] == table[KNEE].tolist()
    vectors = read_embeddings(tmp_path, table[KNEE])
    assert all(v.shape == (4,) and np.isclose(np.linalg.norm(v), 1) for v in vectors.values())


@pytest.mark.slow
def test_commands_fit_and_curve_on_embeddings(tmp_path: Path) -> None:
    """``triage train --features``, ``predict --embeddings`` and ``triage curve`` on an imaging
    cohort with stand-in embeddings whose first dimension shows the effusion."""
    table = synthetic_imaging_cohort(90, seed=6)
    data, ref, folder = tmp_path / "cohort.csv", tmp_path / "reference.csv", tmp_path / "emb"
    table.to_csv(data, index=False)
    normal_reference_table(300, seed=101).to_csv(ref, index=False)
    rng = np.random.default_rng(1)
    for knee, vector in _vectors(table).items():
        peaks = np.vstack([vector, vector + rng.normal(0, 0.1, vector.size)]).astype(np.float32)
        save_embedding(
            StudyEmbedding(peaks, np.arange(2), "stand-in", "0" * 64, peaks), folder / knee
        )
    tables = ["--data", str(data), "--reference", str(ref), "--folds", "3", "--linear"]
    model, curve = tmp_path / "heads.skops", tmp_path / "curve"
    with pytest.raises(InputError, match="need --embeddings"):
        _run("triage", "train", *tables, "--out", str(model), "--features", "embeddings")
    train = [*tables, "--embeddings", str(folder), "--bootstrap", "10", "--no-evaluate"]
    assert _run("triage", "train", *train, "--out", str(model), "--features", "embeddings") == 0
    out = tmp_path / "predictions.csv"
    predict = ["--model", str(model), "--data", str(data), "--out", str(out)]
    with pytest.raises(InputError, match="need --embeddings"):
        _run("triage", "predict", *predict)
    assert _run("triage", "predict", *predict, "--embeddings", str(folder)) == 0
    assert pd.read_csv(out)["p_any"].between(0, 1).all()

    assert _run("triage", "curve", *tables, "--embeddings", str(folder), "--out", str(curve),
                "--fractions", "0.2", "1", "--repeats", "1") == 0  # fmt: skip
    assert (curve / "curve.png").is_file() and "AUC (mean)" in (curve / "report.html").read_text()
    points = pd.read_csv(curve / "curve.csv").set_index(["features", "fraction"])["auc"]
    assert len(points) == 4
    assert points["embeddings+biomarkers", 1.0] > points["biomarkers", 1.0]


def test_embeddings_and_biomarkers_get_a_base_model_each() -> None:
    """One logistic regression per block, weighed by the stacker; blocks must fit X."""
    rng = np.random.default_rng(3)
    y = np.tile([0, 1], 60)
    X = np.column_stack([rng.normal(size=(120, 30)), y + rng.normal(0, 1, 120)])
    model = StackedClassifier(boosting=False, blocks=(30, 1)).fit(X, y)
    assert len(model.base_models_) == 2 and model.stacker_.coef_.shape == (1, 2)
    fresh = np.column_stack([rng.normal(size=(120, 30)), y + rng.normal(0, 1, 120)])
    assert roc_auc_score(y, model.predict_proba(fresh)[:, 1]) > 0.7
    assert feature_blocks(31, 1, "embeddings+biomarkers") == (30, 1)
    assert feature_blocks(31, 1, "embeddings") is None
    with pytest.raises(ValueError, match="do not add up"):
        StackedClassifier(boosting=False, blocks=(30, 2)).fit(X, y)
