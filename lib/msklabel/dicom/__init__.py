"""DICOM objects for msklabel's results: SEG, TID 1500 SR and the visual report."""
