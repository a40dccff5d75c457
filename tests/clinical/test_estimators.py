"""The clinical estimators keep scikit-learn's contracts: ``check_estimator``, classes from the
data, a fitted check, and ``groups`` routed by metadata routing through a Pipeline and CV."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import NotFittedError, UnsetMetadataPassedError
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as checks

from msklabel.clinical.landmark import RiskModel
from msklabel.clinical.stacking import StackedClassifier
from msklabel.clinical.triage import TriageCascade

#: Checks the stacked estimators fail by design, and why.
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the inner grouped folds are dealt from the rows: repeating a row changes the folds, "
        "so a weight of 2 is not the same fit as a repeated row (it is within each fold's fits)"
    ),
    "check_non_transformer_estimators_n_iter": (
        "max_iter is the fixed number of boosting iterations (no early stopping), not a "
        "solver's iteration limit: there is no n_iter_ to report"
    ),
}
#: RiskModel also predicts at its specificity threshold, not at p = 0.5 (as scikit-learn's
#: TunedThresholdClassifierCV), so its predictions are not the argmax of its probabilities.
RISK_EXPECTED_FAILED = {
    **EXPECTED_FAILED,
    "check_classifiers_train": "predicts at the training specificity threshold, not p = 0.5",
}
#: The cascade's fit needs the eight target columns of TARGET_NAMES, which no generic check
#: data has: of the checks, those that never fit it. Its fit is tested on a cohort
#: (tests/clinical/test_triage.py).
CASCADE_CHECKS = (
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_no_attributes_set_in_init,
    checks.check_estimators_unfitted,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two knees per subject; the outcome depends on the first feature."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + rng.normal(size=300) > 0.5).astype(int)
    return X, y, np.repeat(np.arange(150), 2)


@pytest.mark.slow
def test_stacked_classifier_passes_check_estimator() -> None:
    # a short boosting run: the contracts, not the fit quality, are checked here
    checks.check_estimator(StackedClassifier(max_iter=10), expected_failed_checks=EXPECTED_FAILED)


@pytest.mark.slow
def test_risk_model_passes_check_estimator() -> None:
    checks.check_estimator(RiskModel(boosting=False), expected_failed_checks=RISK_EXPECTED_FAILED)


@pytest.mark.parametrize("check", CASCADE_CHECKS, ids=lambda c: c.__name__)
def test_triage_cascade_passes_the_checks_that_need_no_fit(check) -> None:
    check(type(TriageCascade()).__name__, TriageCascade())


@pytest.mark.parametrize("estimator", [StackedClassifier(), RiskModel(), TriageCascade()])
def test_predicting_before_fit_raises_not_fitted(estimator) -> None:
    with pytest.raises(NotFittedError):
        estimator.predict_proba(np.zeros((2, 4)))
    with pytest.raises(NotFittedError):
        estimator.predict(np.zeros((2, 4)))


def test_classes_come_from_the_data_and_non_binary_outcomes_are_refused(data) -> None:
    X, y, groups = data
    labels = np.array(["absent", "present"])[y]
    model = StackedClassifier(boosting=False).fit(X, labels, groups=groups)
    assert model.classes_.tolist() == ["absent", "present"]
    assert set(model.predict(X)) == {"absent", "present"}
    risk = RiskModel(boosting=False).fit(X, y + 1, groups=groups)
    assert risk.classes_.tolist() == [1, 2] and set(risk.predict(X)) <= {1, 2}
    for estimator in (StackedClassifier(boosting=False), RiskModel(boosting=False)):
        with pytest.raises(ValueError, match=r"Only binary classification.*3 class"):
            estimator.fit(X, y + (X[:, 1] > 1), groups=groups)
        with pytest.raises(ValueError, match="1 class"):
            estimator.fit(X, np.ones_like(y), groups=groups)


def test_groups_are_routed_through_a_pipeline_and_cross_validation(data) -> None:
    X, y, groups = data
    scaled = StandardScaler().fit_transform(X)
    with_groups = StackedClassifier(boosting=False).fit(scaled, y, groups=groups).oof_proba_
    without = StackedClassifier(boosting=False).fit(scaled, y).oof_proba_
    assert not np.allclose(with_groups, without)  # the groups change the inner folds
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(
            StandardScaler(), StackedClassifier(boosting=False).set_fit_request(groups=True)
        )
        assert np.array_equal(pipeline.fit(X, y, groups=groups)[-1].oof_proba_, with_groups)
        folds = cross_validate(
            pipeline, X, y, cv=GroupKFold(3), params={"groups": groups}, return_estimator=True,
            return_indices=True,
        )  # fmt: skip
        for fitted, train in zip(folds["estimator"], folds["indices"]["train"], strict=True):
            direct = StackedClassifier(boosting=False).fit(
                StandardScaler().fit_transform(X[train]), y[train], groups=groups[train]
            )
            assert np.array_equal(fitted[-1].oof_proba_, direct.oof_proba_)
        weight = np.random.default_rng(1).uniform(1.0, 3.0, len(y))
        risk = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            RiskModel(boosting=False).set_fit_request(groups=True, sample_weight=True),
        ).fit(X, y, groups=groups, sample_weight=weight)
    direct = RiskModel(boosting=False).fit(scaled, y, groups=groups, sample_weight=weight)
    assert risk[-1].threshold_ == direct.threshold_
    assert np.array_equal(risk[-1].classifier_.oof_proba_, direct.classifier_.oof_proba_)
    with (
        sklearn.config_context(enable_metadata_routing=True),
        pytest.raises(UnsetMetadataPassedError, match="groups"),
    ):
        make_pipeline(StandardScaler(), StackedClassifier()).fit(X, y, groups=groups)
