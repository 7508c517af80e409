"""Shared fixtures: small generated data, and a reports folder per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def launches():
    from nblib.ml.data.datasets import make_product_launches

    return make_product_launches(1500, random_state=3)


@pytest.fixture
def reports(tmp_path, monkeypatch) -> Path:
    """A private reports folder, so tests never touch the project's reports/."""
    folder = tmp_path / "reports"
    folder.mkdir()
    monkeypatch.setenv("NBLIB_REPORTS", str(folder))
    return folder


def run_cli(*args: str, reports: Path, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """``nblib ARGS`` in a subprocess writing into ``reports``."""
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "nblib", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def run_folders(reports: Path) -> list[Path]:
    """Dated run folders (not the cache, the scratch run or sweep pages)."""
    import re

    return sorted(p for p in reports.glob("*/*") if p.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.parent.name))
