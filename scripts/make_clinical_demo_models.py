"""Regenerate the demonstration clinical models (deterministic) and their reports.

Usage: python scripts/make_clinical_demo_models.py [REPORT_DIR]
"""

import sys
from pathlib import Path

from msklabel.clinical.demo import build_demo_models

if __name__ == "__main__":
    report_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    for name, path in build_demo_models(report_dir=report_dir).items():
        print(f"{name}: {path}")
