"""The build as ``setup.cfg`` declares it, plus ``msklabel-compat.pth`` at the top of the wheel:
installed into site-packages, it runs :func:`msklabel.compat.install` at the start of every
process of the environment (the stock ``monailabel start_server`` included), as the file that
``scripts/install.sh`` writes does for its editable install."""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

COMPAT = Path(__file__).resolve().parent / "lib" / "msklabel" / "compat.py"


class BuildWithCompatHook(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            line = runpy.run_path(str(COMPAT))["PTH_LINE"]
            Path(self.build_lib, "msklabel-compat.pth").write_text(line)


setup(cmdclass={"build_py": BuildWithCompatHook})
