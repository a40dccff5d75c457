"""The DICOM Storage SCP (pynetdicom): C-ECHO, and C-STORE handed to an :class:`Intake`.

Every storage SOP class and every transfer syntax is accepted at association time, so that
an instance the pipeline cannot use reaches the intake and is kept aside with its reason
instead of failing the sender's whole association. An association is rejected when its
called AE title is not ours, or its calling AE title is outside the allow-list (when one is
configured). With a certificate configured, only DICOM TLS associations are accepted
(TLS 1.2 or later, the BCP 195 profile's floor), optionally only from senders whose
certificate the configured client CA signed.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from msklabel.errors import InputError
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
            (self.config.host, self.config.port),
            block=False,
            evt_handlers=handlers,
            ssl_context=tls_context(self.config),
        )
        if not self.config.allowed_calling_aes:
            everywhere = self.config.host in ALL_INTERFACES
            logger.warning(
                "no calling AE allow-list: every calling AE is accepted%s",
                " from ANY NETWORK (listening on all interfaces)" if everywhere else "",
            )
        logger.info(
            "listening as %s on port %d%s", self.config.ae_title, self.port,
            " (DICOM TLS only)" if self.config.tls_certificate else "",
        )  # fmt: skip
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


def tls_context(config: ListenerConfig) -> ssl.SSLContext | None:
    """The server side of DICOM TLS for ``config`` (None without a certificate).

    TLS 1.2 or later with Python's default (forward-secret, AEAD) ciphers, as BCP 195 asks;
    with ``tls_client_ca``, a sender without a certificate signed by it is refused.
    """
    if not config.tls_certificate:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    files = {"tls_certificate": config.tls_certificate, "tls_key": config.tls_key}
    if config.tls_client_ca:
        files["tls_client_ca"] = config.tls_client_ca
    for key, name in files.items():
        if not Path(name).is_file():
            raise InputError(name, f"[listener] {key}: no such file")
    try:
        context.load_cert_chain(config.tls_certificate, config.tls_key)
        if config.tls_client_ca:
            context.load_verify_locations(config.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except ssl.SSLError as error:
        raise InputError(
            config.tls_certificate, f"[listener] TLS files cannot be used: {error.reason}"
        ) from None
    return context
