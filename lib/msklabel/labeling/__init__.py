"""Labeling logic behind the MONAI Label app, with no MONAI Label in it.

Label sets (:mod:`.labelset`), the app's options (:mod:`.options`), viewer requests to engine
prompts (:mod:`.requests`), the served model and detector following their published
checkpoints (:mod:`.models`), uncertainty and active-learning choices on plain data
(:mod:`.active`), training from saved labels (:mod:`.training`), DICOM series and SEG
conversions for PACS datastores (:mod:`.series`), the local sample datastore and a
DICOMweb datastore's login (:mod:`.studies`).
"""
