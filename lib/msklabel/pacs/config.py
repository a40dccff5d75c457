"""The routing configuration: one TOML or JSON file, every key optional.

.. code-block:: toml

    storage = "/var/lib/msklabel"        # instances, quarantine, results, status and queue

    [listener]
    ae_title = "MSKLABEL"                # associations called to another AE title are rejected
    host = "127.0.0.1"                   # "0.0.0.0": all interfaces (use an allow-list)
    port = 11112
    allowed_calling_aes = ["ORTHANC"]    # empty: any calling AE is accepted
    max_associations = 10
    max_pdu_size = 262144
    min_free_mb = 500                    # below this: Out of Resources, nothing written
    tls_certificate = ""                 # PEM: DICOM TLS (BCP 195) required, plain refused
    tls_key = ""                         # PEM private key of the certificate
    tls_client_ca = ""                   # PEM: senders must present a certificate it signed

    [completion]
    inactivity_s = 30                    # a study is complete after this long without news

    [queue]
    url = ""                             # "" = SQLite in the storage folder; or redis://host:port/0
    workers = 1
    retries = 3
    retry_delay_s = 10                   # doubled after each retry
    lease_s = 120                        # a running job silent this long is taken over
    shutdown_timeout_s = 30              # on SIGTERM, running jobs get this long to finish

    [pipeline]
    steps = ["select", "segment", "biomarkers", "clinical", "results", "send"]
    segmentation = "automatic"           # or "labels": label maps <labels_dir>/<SeriesUID>.nii.gz
    labels_dir = ""
    models = "default"                   # clinical model files: "default", "none" or a list
    device = "auto"                      # where models run: auto (a CUDA GPU if any), cpu, cuda[:N]

    [quality]                            # the quality gate's limits (msklabel.biomarkers.quality)
    field_strength_t = 3.0               # when the header has no MagneticFieldStrength
    chemical_shift_px = 1.2              # fat shift (px, no fat suppression): plates doubtful above
    [quality.limits.cartilage]           # per scope ("all", a group, a structure key)
    thickness_mean_mm = [0.5, 1.0, 3.8, 5.0]   # fail_low, low, high, fail_high

    [status]
    host = "127.0.0.1"
    port = 11180                         # 0: no HTTP status

    [[destinations]]                     # none: results stay in <storage>/results
    type = "dicom"                       # C-STORE
    ae_title = "PACS"
    host = "127.0.0.1"
    port = 4242

    [[destinations]]
    type = "dicomweb"                    # STOW-RS
    url = "https://pacs.example.org/dicom-web"
    user = "msklabel"                    # a login, if the server asks for one: HTTP basic ...
    password_env = "PACS_PASSWORD"       # ... with the password in $PACS_PASSWORD
    # token_env = "PACS_TOKEN"           # or: Authorization: Bearer $PACS_TOKEN

    [[rules]]                            # see msklabel.pacs.rules
    name = "knee-mr"
    modality = ["MR"]
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msklabel.biomarkers.quality import DEFAULT_RULES as DEFAULT_QUALITY
from msklabel.biomarkers.quality import QualityRules, rules_from_mapping
from msklabel.device import resolve_device
from msklabel.dicomweb import (
    LOGIN_KEYS,
    AuthSettingError,
    DicomWebAuth,
    MissingSecret,
    auth_from_table,
)
from msklabel.errors import InputError
from msklabel.pacs.rules import DEFAULT_RULES, Rule, rule_from_dict

#: Every pipeline step, in the order they run by default (see :mod:`msklabel.pacs.pipeline`).
STEPS = ("select", "segment", "biomarkers", "clinical", "results", "send", "index")
#: The steps that run when the configuration names none (``index`` needs ``index_dir``).
DEFAULT_STEPS = STEPS[:-1]
#: The steps each step needs before it.
STEP_NEEDS = {
    "index": ("select",),
    "segment": ("select",),
    "biomarkers": ("segment",),
    "clinical": ("biomarkers",),
    "results": ("segment",),
    "send": ("results",),
}
DEFAULT_STORAGE = Path("~/.local/share/msklabel/pacs")


@dataclass(frozen=True)
class ListenerConfig:
    """The DICOM Storage SCP."""

    ae_title: str = "MSKLABEL"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_calling_aes: tuple[str, ...] = ()
    max_associations: int = 10
    max_pdu_size: int = 262144
    min_free_mb: float = 500.0
    tls_certificate: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""


@dataclass(frozen=True)
class CompletionConfig:
    """When a study counts as complete."""

    inactivity_s: float = 30.0
    check_every_s: float = 1.0


@dataclass(frozen=True)
class QueueConfig:
    """The job queue (huey): embedded SQLite by default, Redis for several workers."""

    url: str = ""
    workers: int = 1
    retries: int = 3
    retry_delay_s: float = 10.0
    lease_s: float = 120.0
    shutdown_timeout_s: float = 30.0


@dataclass(frozen=True)
class PipelineConfig:
    """Which steps run, and how the segmentation is made."""

    steps: tuple[str, ...] = DEFAULT_STEPS
    segmentation: str = "automatic"
    labels_dir: str = ""
    models: str | tuple[str, ...] = "default"
    device: str = "auto"
    #: The study index (``msklabel similar --index``) the ``index`` step adds each series to.
    index_dir: str = ""
    #: Slices the ``index`` step embeds: N evenly spaced central ones (0: all).
    index_slices: int = 0


@dataclass(frozen=True)
class StatusConfig:
    """The HTTP status endpoint (0: none)."""

    host: str = "127.0.0.1"
    port: int = 11180


@dataclass(frozen=True)
class Destination:
    """Where results go: a DICOM AE (C-STORE) or a DICOMweb service (STOW-RS), which may ask
    for a login (``auth``; its secret stays in the environment, :mod:`msklabel.dicomweb`)."""

    type: str
    ae_title: str = ""
    host: str = ""
    port: int = 0
    url: str = ""
    calling_ae_title: str = ""
    auth: DicomWebAuth = field(default_factory=DicomWebAuth)

    @property
    def name(self) -> str:
        """A short name for status and logs."""
        if self.type == "dicom":
            return f"dicom:{self.ae_title}@{self.host}:{self.port}"
        return f"dicomweb:{self.url}"


@dataclass(frozen=True)
class PacsConfig:
    """Everything the listener, the queue and the workers need."""

    storage: Path = DEFAULT_STORAGE
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    destinations: tuple[Destination, ...] = ()
    rules: tuple[Rule, ...] = DEFAULT_RULES
    quality: QualityRules = DEFAULT_QUALITY
    #: The file it was read from, which errors name.
    source: str = "configuration"

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage", Path(self.storage).expanduser())
        _check(self)

    def replace(self, **sections: Any) -> PacsConfig:
        """A copy with whole sections (or ``storage``) replaced."""
        return dataclasses.replace(self, **sections)

    def check_logins(self) -> None:
        """Check that the secret of every destination's login is in the environment now (a
        worker reads it at each send): :class:`InputError` naming the file and the key if not,
        so that a process that sends fails at its start rather than at its first send."""
        for index, destination in enumerate(self.destinations):
            try:
                destination.auth.secret()
            except MissingSecret as error:
                key = f"destinations[{index}].{destination.auth.variable_key}"
                raise InputError(self.source, f"{key}: {error}") from None


_SECTIONS = {
    "listener": ListenerConfig,
    "completion": CompletionConfig,
    "queue": QueueConfig,
    "pipeline": PipelineConfig,
    "status": StatusConfig,
}


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> PacsConfig:
    """The configuration in ``path`` (TOML or JSON; None: defaults), then ``overrides``
    (``storage=...`` or a section name mapped to a dict of its keys)."""
    data: dict[str, Any] = {}
    source = "configuration"
    if path is not None:
        source = os.fspath(path)
        data = _read(Path(path))
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return config_from_dict(data, source)


def config_from_dict(data: Mapping[str, Any], source: str = "configuration") -> PacsConfig:
    """Build and check a :class:`PacsConfig`; :class:`InputError` naming ``source`` if bad."""
    known = {"storage", "destinations", "rules", "quality", *_SECTIONS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(source, f"unknown keys {unknown} (known: {sorted(known)})")
    try:
        kwargs: dict[str, Any] = {
            name: _section(cls, data.get(name, {}), f"[{name}]") for name, cls in _SECTIONS.items()
        }
        kwargs["destinations"] = tuple(
            _destination(item, f"destinations[{index}]")
            for index, item in enumerate(data.get("destinations", ()))
        )
        if "rules" in data:
            kwargs["rules"] = tuple(rule_from_dict(item) for item in data["rules"])
        if "storage" in data:
            kwargs["storage"] = Path(data["storage"])
        if "quality" in data:
            kwargs["quality"] = rules_from_mapping(_quality_table(data["quality"]), source)
        return PacsConfig(**kwargs, source=source)
    except (TypeError, ValueError) as error:
        raise InputError(source, str(error)) from None


def _quality_table(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"[quality] must be a table, got {value!r}")
    return value


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(path, f"cannot read the configuration ({error.strerror})") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except ValueError as error:
        raise InputError(path, f"not valid {path.suffix.lstrip('.') or 'TOML'}: {error}") from None


def _section(
    cls: type, values: Mapping[str, Any], where: str, read: Sequence[str] = (), **given: Any
) -> Any:
    """``cls`` from the table ``values`` (``where`` names it in errors); ``given`` are fields
    that the table holds in another form (its keys ``read``, which the caller has read)."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a table, got {values!r}")
    fields = {f.name for f in dataclasses.fields(cls)} - set(given)
    unknown = sorted(set(values) - fields - set(read))
    if unknown:
        known = sorted(fields | set(read))
        raise ValueError(f"{where}: unknown keys {unknown} (known: {known})")
    converted = {
        k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k not in read
    }
    return cls(**converted, **given)


def _destination(values: Any, key: str) -> Destination:
    """One ``[[destinations]]`` table; a dicomweb one may give a login, read by the parser
    of every DICOMweb login (:func:`msklabel.dicomweb.auth_from_table`)."""
    if not isinstance(values, Mapping):  # before reading its login
        raise ValueError(f"{key} must be a table, got {values!r}")
    try:
        auth = auth_from_table(values)
    except AuthSettingError as error:
        raise ValueError(f"{key}.{error.key}: {error.reason}") from None
    login = [name for name in LOGIN_KEYS if name in values]
    if login and values.get("type") != "dicomweb":
        raise ValueError(f"{key}: {', '.join(login)}: only a dicomweb destination logs in")
    return _section(Destination, values, key, LOGIN_KEYS, auth=auth)


def _check(config: PacsConfig) -> None:
    steps = config.pipeline.steps
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"[pipeline] steps: unknown {unknown} (known: {list(STEPS)})")
    for step in steps:
        missing = [need for need in STEP_NEEDS.get(step, ()) if need not in steps]
        if missing:
            raise ValueError(f"[pipeline] step {step!r} needs {missing}")
    if config.pipeline.segmentation not in ("automatic", "labels"):
        raise ValueError("[pipeline] segmentation must be 'automatic' or 'labels'")
    if config.pipeline.segmentation == "labels" and not config.pipeline.labels_dir:
        raise ValueError("[pipeline] segmentation = 'labels' needs labels_dir")
    if "index" in steps and not config.pipeline.index_dir:
        raise ValueError("[pipeline] step 'index' needs index_dir")
    if config.pipeline.index_slices < 0:
        raise ValueError("[pipeline] index_slices must be >= 0 (0: every slice)")
    try:
        resolve_device(config.pipeline.device)
    except ValueError as error:
        raise ValueError(f"[pipeline] device: {error}") from None
    for destination in config.destinations:
        if destination.type == "dicom" and not (
            destination.ae_title and destination.host and destination.port
        ):
            raise ValueError("a dicom destination needs ae_title, host and port")
        if destination.type == "dicomweb" and not destination.url:
            raise ValueError("a dicomweb destination needs url")
        if destination.type not in ("dicom", "dicomweb"):
            raise ValueError(f"destination type must be 'dicom' or 'dicomweb': {destination}")
    listener = config.listener
    if bool(listener.tls_certificate) != bool(listener.tls_key):
        raise ValueError("[listener] tls_certificate and tls_key go together")
    if listener.tls_client_ca and not listener.tls_certificate:
        raise ValueError("[listener] tls_client_ca needs tls_certificate and tls_key")
    if config.queue.url and not config.queue.url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"[queue] url must be empty (SQLite) or redis://...: {config.queue.url}")
    if config.queue.workers < 1 or config.queue.retries < 0 or config.queue.lease_s <= 0:
        raise ValueError("[queue] needs workers >= 1, retries >= 0 and lease_s > 0")
