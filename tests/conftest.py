"""Suite-wide settings: fully offline (the Hub is unreachable here and in CI), deterministic, quiet."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# datasets copies every local folder it loads into its cache: keep the suite's copies out of ~/.cache
_OWN_DATASETS_CACHE = None if "HF_DATASETS_CACHE" in os.environ else tempfile.mkdtemp(prefix="culturemert-datasets-")
if _OWN_DATASETS_CACHE:
    os.environ["HF_DATASETS_CACHE"] = _OWN_DATASETS_CACHE

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture
def single_thread():
    """One intra-op thread: tiny models run fastest that way, and on a shared, oversubscribed CPU OpenMP barriers
    make 2 threads up to ~100x slower. Modules opt in with ``pytestmark = pytest.mark.usefixtures("single_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pytest_unconfigure(config):
    if _OWN_DATASETS_CACHE:
        import shutil

        shutil.rmtree(_OWN_DATASETS_CACHE, ignore_errors=True)
