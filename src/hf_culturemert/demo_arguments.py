"""The demo's settings (``culturemert demo`` options; the Space reads the same from env vars), without torch, so that
``culturemert demo --help`` and its argument errors answer at once. The demo itself is ``hf_culturemert.demo``."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

DEFAULT_MODELS = ("m-a-p/MERT-v1-95M", "ntua-slp/CultureMERT-95M", "ntua-slp/CultureMERT-TA-95M")
MODELS_ENV = "CULTUREMERT_DEMO_MODELS"
HEADS_ENV = "CULTUREMERT_DEMO_HEADS"
OFFLINE_ENV = "CULTUREMERT_DEMO_OFFLINE"
MAX_SECONDS_ENV = "CULTUREMERT_DEMO_MAX_SECONDS"


def _default_heads_dir() -> str:
    if os.environ.get(HEADS_ENV):
        return os.environ[HEADS_ENV]
    return str(Path(__file__).resolve().parents[2] / "spaces" / "culturemert-demo" / "heads")


def _env_models() -> List[str]:
    value = os.environ.get(MODELS_ENV, "")
    return [m.strip() for m in value.split(",") if m.strip()] or list(DEFAULT_MODELS)


def _env_flag(name) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class DemoArguments:
    """Settings of the demo (the CLI options of ``culturemert demo``; the Space reads the same from env vars)."""

    models: List[str] = field(default_factory=_env_models, metadata={
        "help": f"Model ids or local folders, side by side (default: ${MODELS_ENV}, comma-separated, or "
                f"{', '.join(DEFAULT_MODELS)})."})
    heads_dir: str = field(default_factory=_default_heads_dir, metadata={
        "help": f"Folder of probe heads (and tiny stand-in models) made by train_heads.py (default ${HEADS_ENV} or "
                "the Space's heads/)."})
    offline: bool = field(default_factory=lambda: _env_flag(OFFLINE_ENV), metadata={
        "help": "Do not try the Hub: use the tiny stand-in models shipped with the heads."})
    hub_timeout: float = field(default=5.0, metadata={"help": "Seconds to wait for the Hub before falling back."})
    window_seconds: float = field(default=5.0, metadata={"help": "Window length (MERT was trained on 5 s)."})
    max_seconds: float = field(default_factory=lambda: float(os.environ.get(MAX_SECONDS_ENV, 60.0)), metadata={
        "help": "Longer recordings are cut to their first max_seconds (with a warning)."})
    min_seconds: float = field(default=0.5, metadata={"help": "Shorter clips are refused."})
    max_file_mb: float = field(default=50.0, metadata={"help": "Upload size limit in MB."})
    host: str = field(default="127.0.0.1", metadata={"help": "Address to serve on (0.0.0.0 to expose it)."})
    port: Optional[int] = field(default=None, metadata={"help": "Port (default: Gradio's, 7860 or the next free)."})
    share: bool = field(default=False, metadata={"help": "Create a public gradio.live link."})

    @property
    def max_file_bytes(self) -> int:
        """The upload limit for ``launch(max_file_size=...)``, in bytes (MB = 2**20 bytes, as the app checks it)."""
        return int(self.max_file_mb * 2 ** 20)

    def __post_init__(self):
        if isinstance(self.models, str):
            self.models = [m.strip() for m in self.models.split(",") if m.strip()]
        if not self.models:
            raise ValueError("`models` is empty: name at least one model id or folder")
        for name in ("window_seconds", "max_seconds", "max_file_mb", "hub_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}")
