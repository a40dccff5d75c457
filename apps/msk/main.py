"""The msklabel MONAI Label app: promptable MSK MRI segmentation (LiteMedSAM by default).

Start it with the stock server, e.g.
``monailabel start_server --app apps/msk --studies STUDIES -c labels femur,tibia``;
the options are listed in :mod:`msklabel.labeling.options`. This module only wires one
task config per model (a :class:`~lib.configs.segmenter.SegmenterConfig` per promptable model,
the knee detector's and the knee network's); the work lives in ``lib`` and
``msklabel.labeling``.
"""

from __future__ import annotations

import logging

from lib.configs.detector import DetectorConfig
from lib.configs.kneeseg import KneeSegConfig
from lib.configs.segmenter import SegmenterConfig
from lib.datastore.dicomweb import MskDicomWebDatastore
from lib.datastore.safe import MskLocalDatastore
from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.datastore import Datastore
from monailabel.utils.others.generic import strtobool

from msklabel import __version__
from msklabel.labeling.models import DetectorStore, KneeSegStore
from msklabel.labeling.options import AppOptions
from msklabel.labeling.studies import studies_login

logger = logging.getLogger(__name__)


class MyApp(MONAILabelApp):
    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.options = AppOptions.from_conf(conf, app_dir)
        model_dir = str(self.options.model_dir)
        detectors = DetectorStore(model_dir, device=self.options.device)
        automatic = self.options.labelset.automatic
        knees = KneeSegStore(model_dir, device=self.options.device) if automatic else None
        self.configs: dict[str, TaskConfig] = {}
        for number, spec in enumerate(self.options.models):
            config = SegmenterConfig()
            config.init(
                spec.model, model_dir, conf, None,
                spec=spec, options=self.options, primary=number == 0, detectors=detectors,
                knees=knees,
            )  # fmt: skip
            self.configs[spec.model] = config
        if knees is not None:
            self.configs[detectors.name] = DetectorConfig()
            self.configs[detectors.name].init(
                detectors.name, model_dir, conf, None, store=detectors
            )
            self.configs[knees.name] = KneeSegConfig()
            self.configs[knees.name].init(
                knees.name, model_dir, conf, None, labelset=self.options.labelset, store=knees
            )  # fmt: skip
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="msklabel",
            description="Promptable MSK MRI segmentation: interactive, automatic, propagation",
            version=__version__,
            # A list of names: the OHIF panel bundled with monailabel appends to it (a mapping
            # leaves the panel empty); each infer still gives its exact label values.
            labels=sorted(self.options.labelset.values, key=self.options.labelset.values.get),
        )
        # Scoring every image after each train or next-sample request is costly on CPUs:
        # the least-sure strategy scores what it needs itself. "-c auto_update_scoring true".
        self._auto_update_scoring = strtobool(conf.get("auto_update_scoring", "false"))

    def init_datastore(self) -> Datastore:
        if self.studies.startswith(("http://", "https://")):
            url = self.studies.rstrip("/")
            logger.info("DICOMweb datastore %s, search %s", url, self.options.dicomweb_filter)
            return MskDicomWebDatastore(
                url,
                self.options.dicomweb_filter,
                self.options.labelset,
                settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or None,
                # MONAI Label's own login setting, which its DICOMweb proxy uses too
                studies_login(settings.MONAI_LABEL_DICOMWEB_USERNAME),
            )
        return MskLocalDatastore(
            self.studies,
            extensions=settings.MONAI_LABEL_DATASTORE_FILE_EXT,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def init_infers(self):
        return {name: task for c in self.configs.values() for name, task in c.infer().items()}

    def init_trainers(self):
        return {name: config.trainer() for name, config in self.configs.items()}

    def init_strategies(self):
        return {k: v for c in self.configs.values() for k, v in (c.strategy() or {}).items()}

    def init_scoring_methods(self):
        return {k: v for c in self.configs.values() for k, v in (c.scoring_method() or {}).items()}
