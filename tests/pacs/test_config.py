"""The routing configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from msklabel.dicomweb import DicomWebAuth
from msklabel.errors import InputError
from msklabel.pacs import Service
from msklabel.pacs.config import DEFAULT_STEPS, load_config
from msklabel.pacs.listener import tls_context

#: A C-STORE destination, then the start of a STOW-RS one (destinations[1]).
STOW = ('[[destinations]]\ntype = "dicom"\nae_title = "A"\nhost = "h"\nport = 4\n'
        '[[destinations]]\ntype = "dicomweb"\nurl = "http://pacs/dicom-web"\n')  # fmt: skip


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    config = load_config()
    assert config.queue.url == "" and config.queue.workers == 1  # SQLite, one worker
    assert config.pipeline.steps == DEFAULT_STEPS and config.pipeline.segmentation == "automatic"
    assert config.destinations == () and config.listener.port == 11112
    assert config.pipeline.device == "auto"  # a CUDA GPU where there is one, else the CPU


def test_the_device_key_is_read_and_listen_overrides_it(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text('[pipeline]\ndevice = "cpu"\n')
    assert load_config(path).pipeline.device == "cpu"
    assert load_config(path, pipeline={"device": "auto"}).pipeline.device == "auto"


def test_a_toml_file_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(
        'storage = "store"\n[listener]\nallowed_calling_aes = ["PACS"]\n'
        '[[destinations]]\ntype = "dicomweb"\nurl = "http://pacs/dicom-web"\n'
        '[[rules]]\nname = "knee"\nmodality = "MR"\nmin_slices = 10\n'
    )
    config = load_config(path, listener={"port": 4000})
    assert config.storage == Path("store") and config.listener.port == 4000
    assert config.listener.allowed_calling_aes == ("PACS",)
    assert config.destinations[0].name == "dicomweb:http://pacs/dicom-web"
    assert config.rules[0].modality == ("MR",) and config.rules[0].min_slices == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[listner]\nport = 1\n", "unknown keys ['listner']"),
        ('[pipeline]\nsteps = ["select", "send"]\n', "step 'send' needs ['results']"),
        ('[pipeline]\nsteps = ["select", "index"]\n', "step 'index' needs index_dir"),
        ('[queue]\nurl = "amqp://x"\n', "redis://"),
        ('[[destinations]]\ntype = "dicom"\nhost = "x"\n', "needs ae_title, host and port"),
        (
            f'{STOW}user = "r"\npassword = "pw"\n',
            "destinations[1].password: never write a secret in a configuration file",
        ),
        (f'{STOW}user = "r"\n', "destinations[1].password_env: missing"),
        (
            f'{STOW}token_env = "T"\nuser = "r"\npassword_env = "P"\n',
            "destinations[1].token_env: give user and password_env (HTTP basic) or token_env",
        ),
        (f'{STOW}user = "r"\npassword_env = 1\n', "destinations[1].password_env: must be text"),
        (f'{STOW}auth = "r"\n', "destinations[1]: unknown keys ['auth']"),
        (
            '[[destinations]]\ntype = "dicom"\nae_title = "A"\nhost = "h"\nport = 4\n'
            'token_env = "T"\n',
            "destinations[0]: token_env: only a dicomweb destination logs in",
        ),
        ("[listener\n", "not valid toml"),
        ('[listener]\ntls_certificate = "c.pem"\n', "tls_certificate and tls_key go together"),
        ('[listener]\ntls_client_ca = "ca.pem"\n', "tls_client_ca needs tls_certificate"),
        ('[pipeline]\ndevice = "gpu"\n', "[pipeline] device: device 'gpu': unknown"),
        ("[pipeline]\ndevice = 0\n", "[pipeline] device: device '0': unknown"),
        pytest.param(
            '[pipeline]\ndevice = "cuda"\n',
            "[pipeline] device: device 'cuda': torch sees no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here"),
        ),
    ],
)
def test_a_bad_file_is_named_with_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        load_config(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_missing_tls_files_are_named_when_the_listener_starts(tmp_path: Path) -> None:
    config = load_config(
        listener={"port": 0, "tls_certificate": str(tmp_path / "c.pem"), "tls_key": "k.pem"}
    )
    with pytest.raises(InputError, match=r"c\.pem: \[listener\] tls_certificate: no such file"):
        tls_context(config.listener)


def test_a_stow_login_is_read_and_its_secret_checked_when_a_worker_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secret is looked for when a process that sends starts (not when ``msklabel
    status`` reads the same file), and the error names the file and the key."""
    path = tmp_path / "routing.toml"
    path.write_text(
        f'storage = "{tmp_path / "store"}"\n[listener]\nport = 0\n[status]\nport = 0\n'
        f'{STOW}user = "radiology"\npassword_env = "MSK_TEST_PACS_PW"\n'
    )
    monkeypatch.delenv("MSK_TEST_PACS_PW", raising=False)
    config = load_config(path)
    stow = config.destinations[1]
    assert stow.auth == DicomWebAuth(user="radiology", password_env="MSK_TEST_PACS_PW")
    assert stow.name == "dicomweb:http://pacs/dicom-web"
    assert config.destinations[0].auth == DicomWebAuth()
    for role in ("all", "worker"):
        with pytest.raises(InputError) as raised:
            Service(config, role).start()
        assert str(raised.value) == (
            f"{path}: destinations[1].password_env: environment variable MSK_TEST_PACS_PW is "
            "not set"
        )
    Service(config, "listener").start().stop()  # it sends nothing
    monkeypatch.setenv("MSK_TEST_PACS_PW", "pw-7c1d")
    config.check_logins()
