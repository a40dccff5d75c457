"""PACS routing: a DICOM listener that loses nothing, study completion, a durable job queue
(huey: SQLite embedded, Redis for several workers) and the pipeline that sends SEG, SR and
report back to PACS.

- :mod:`~msklabel.pacs.config`: the configuration (TOML or JSON).
- :mod:`~msklabel.pacs.listener`: the Storage SCP; :mod:`~msklabel.pacs.intake`: checks and
  records each instance, with its :mod:`~msklabel.pacs.header`; :mod:`~msklabel.pacs.storage`:
  durable files and the quarantine.
- :mod:`~msklabel.pacs.completion`: study completion, late arrivals, job recovery.
- :mod:`~msklabel.pacs.queue`: the huey queue; :mod:`~msklabel.pacs.worker`: one job's run.
- :mod:`~msklabel.pacs.rules`: series selection; :mod:`~msklabel.pacs.pipeline`: the steps;
  :mod:`~msklabel.pacs.features`: biomarkers and demographics for the clinical models.
- :mod:`~msklabel.pacs.send`: C-STORE and STOW-RS; :mod:`~msklabel.pacs.status`: the state
  database and its HTTP view; :mod:`~msklabel.pacs.service`: one process's parts.
"""

from msklabel.pacs.config import Destination, PacsConfig, load_config
from msklabel.pacs.service import Service
from msklabel.pacs.status import StatusStore

__all__ = ["Destination", "PacsConfig", "Service", "StatusStore", "load_config"]
