"""Template and build tier. The archive-contract tests drive the real handler with the integration tier's
fixtures, imported here so pytest registers them for this folder too."""

from __future__ import annotations

import pytest

from tests.integration.conftest import archiver, aws  # noqa: F401  # fixtures shared with tests/integration
from tests.template.test_build import LAMBDA_LIMIT_MB, SIZES, UNZIPPED_BUDGET_MB


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for architecture, (function, layer) in sorted(SIZES.items()):
        terminalreporter.write_line(
            f"unzipped {architecture}: function {function:.1f} MB + dependencies layer {layer:.1f} MB "
            f"= {function + layer:.1f} MB (budget {UNZIPPED_BUDGET_MB} MB, Lambda limit {LAMBDA_LIMIT_MB} MB)"
        )
