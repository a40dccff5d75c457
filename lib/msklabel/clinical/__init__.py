"""Clinical models on knee MRI biomarkers: a triage cascade and landmark risk models.

The modules are small and import only numpy, pandas and scikit-learn (plots
import matplotlib when called):

- :mod:`~msklabel.clinical.features`: the biomarker columns, reference z-scores,
  demographics (from the table or the DICOM header) and per-visit history.
- :mod:`~msklabel.clinical.cohort`: synthetic cohorts with a known generating model.
- :mod:`~msklabel.clinical.metrics`: discrimination, calibration, decision curves, CIs.
- :mod:`~msklabel.clinical.stacking`: the leakage-free stacked classifier.
- :mod:`~msklabel.clinical.evaluation`: grouped nested cross-validation.
- :mod:`~msklabel.clinical.triage`: the three-stage triage cascade.
- :mod:`~msklabel.clinical.landmark`: landmark datasets with censoring, risk models.
- :mod:`~msklabel.clinical.bundle`, :mod:`~msklabel.clinical.cards`,
  :mod:`~msklabel.clinical.plots`, :mod:`~msklabel.clinical.report`: model files,
  model cards, PNG plots and the HTML report.
- :mod:`~msklabel.clinical.prediction`: one study's prediction, ready for the SR.

None of these models is for clinical use until validated on the site's own data.
"""
