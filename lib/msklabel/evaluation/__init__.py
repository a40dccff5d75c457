"""Evaluation of segmentation models: overlap and surface metrics, biomarker agreement."""
