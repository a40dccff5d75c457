"""Results of a study: measure with :mod:`msklabel.biomarkers`, judge with the quality gate,
then write with :mod:`msklabel.dicom` (SEG, TID 1500 SR, report). The composition layer
above both, so that neither imports the other's upper half."""
