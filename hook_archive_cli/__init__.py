"""cfn-hook-archive's operator CLI: run from a checkout against the user's own AWS account.

``status`` and ``verify`` reuse the product's own code (the archiver's models and ListHookResults adapter,
the fleet-health check) rather than copies of it. From a checkout (``uv run``, the editable install) those
packages live under ``functions/``; they are put on the import path here, before any submodule imports them,
and only when they are not importable already.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
_PRODUCT_PACKAGES = {"hook_archive": "functions/archiver", "fleet_health": "functions/fleet_health"}

for _package, _directory in _PRODUCT_PACKAGES.items():
    _path = _CHECKOUT / _directory
    if importlib.util.find_spec(_package) is None and (_path / _package).is_dir():
        sys.path.append(str(_path))
