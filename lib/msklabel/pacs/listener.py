"""The DICOM Storage SCP (pynetdicom): C-ECHO, and C-STORE handed to an :class:`Intake`.

Every storage SOP class and every transfer syntax is accepted at association time, so that
an instance the pipeline cannot use reaches the intake and is kept aside with its reason
instead of failing the sender's whole association. An association is rejected when its
called AE title is not ours, or its calling AE title is outside the allow-list (when one is
configured).
"""

from __future__ import annotations

import logging

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from msklabel.pacs.config import ListenerConfig
from msklabel.pacs.intake import Intake

logger = logging.getLogger(__name__)

#: Host values that listen on every network interface.
ALL_INTERFACES = ("", "0.0.0.0", "::")


class Listener:
    """A Storage SCP on ``config.host:config.port`` (0: a free port) feeding ``intake``."""

    def __init__(self, config: ListenerConfig, intake: Intake) -> None:
        self.config = config
        self.intake = intake
        self.ae = AE(ae_title=config.ae_title)
        self.ae.maximum_associations = config.max_associations
        self.ae.maximum_pdu_size = config.max_pdu_size
        self.ae.require_calling_aet = list(config.allowed_calling_aes)
        self.ae.require_called_aet = True
        self.ae.add_supported_context(Verification)
        for context in StoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        """The port listened on (once started)."""
        assert self._server is not None, "the listener is not started"
        return int(self._server.server_address[1])

    def start(self) -> Listener:
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda event: 0x0000),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        self._server = self.ae.start_server(
            (self.config.host, self.config.port), block=False, evt_handlers=handlers
        )
        if not self.config.allowed_calling_aes:
            everywhere = self.config.host in ALL_INTERFACES
            logger.warning(
                "no calling AE allow-list: every calling AE is accepted%s",
                " from ANY NETWORK (listening on all interfaces)" if everywhere else "",
            )
        logger.info("listening as %s on port %d", self.config.ae_title, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_store(self, event: evt.Event) -> int:
        sender = event.assoc.requestor.ae_title
        try:
            data = event.encoded_dataset(include_meta=True)
            expected = str(event.request.AffectedSOPInstanceUID or "") or None
            outcome = self.intake.receive(data, expected, sender)
        except Exception:
            logger.exception("failed to store an instance from %s", sender)
            return 0xA700  # Out of Resources: the sender keeps it and may retry
        return outcome.status

    @staticmethod
    def _on_rejected(event: evt.Event) -> None:
        logger.warning("association from %s rejected", event.assoc.requestor.ae_title)
