"""Where the files beside the package live: the checkout, or the install's data dir."""

from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
#: where pyproject.toml's data-files put them in a non-editable install
INSTALLED = Path(sys.prefix) / "share" / "ticket-bot"


def data_path(name: str) -> Path:
    """`app-manifest.yml`, from the checkout when running from one."""
    from_checkout = (CHECKOUT / "pyproject.toml").exists()
    return (CHECKOUT if from_checkout else INSTALLED) / name
