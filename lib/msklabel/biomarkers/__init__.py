"""Knee, spine and muscle biomarkers of a label map and its echoes: pure measurement (numbers,
regions, relaxometry) and the quality gate; :mod:`msklabel.results` writes them as DICOM."""
