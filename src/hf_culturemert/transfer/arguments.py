"""Arguments of the transfer study (``culturemert transfer``), shared by the Python API and the CLI."""

import math
from dataclasses import dataclass, field
from typing import List, Optional

from ..pretraining.planning import DEFAULT_GPU, DEFAULT_MFU, peak_tflops

PRESETS = ("miniature", "west-to-east")


@dataclass
class TransferArguments:
    """The "From West to East" study: single-domain training on every dataset, then every ordered pair of datasets
    x model x mode (``full``: fine-tune everything; ``head``: only a new output layer)."""

    preset: str = field(default="miniature", metadata={
        "help": f"One of {PRESETS}: the offline miniature on the synthetic corpus, or the real study."})
    output_dir: str = field(default="outputs/transfer", metadata={"help": "Where everything is written."})
    models: Optional[List[str]] = field(default=None, metadata={
        "help": "Models to run: vggish, musicnn, ast and the MERT backbones of the recipe (west-to-east: "
                "mert-v1-95m, culturemert-95m, culturemert-ta-95m; miniature: mert-tiny). Default: all."})
    datasets: Optional[List[str]] = field(default=None, metadata={
        "help": "Datasets (default: the recipe's; west-to-east: mtat fma lyra makam hindustani carnatic; "
                "miniature: the synthetic western lyra makam)."})
    modes: List[str] = field(default_factory=lambda: ["full", "head"], metadata={
        "help": "Transfer modes: full and/or head (everything but the new output layer frozen)."})
    pairs: Optional[List[str]] = field(default=None, metadata={
        "help": "Restrict the matrix to these SOURCE:TARGET pairs (default: every ordered pair of --datasets)."})
    epochs: Optional[int] = field(default=None, metadata={"help": "Override every run's epochs (quick runs)."})
    seed: int = field(default=0, metadata={"help": "Seed of the corpus, initialisations and crops."})
    data_root: Optional[str] = field(default=None, metadata={
        "help": "Folder of dataset folders (`<data_root>/<name>`); default: the Hub datasets (west-to-east) or the "
                "synthetic corpus written under output_dir (miniature)."})
    clips_per_split: Optional[int] = field(default=None, metadata={
        "help": "Miniature corpus: clips per split (default 32 train, 12 validation, 12 test)."})
    max_tracks: Optional[int] = field(default=None, metadata={"help": "Use at most this many tracks per split."})
    device: str = field(default="auto", metadata={
        "help": "Device of the mel front end while caching spectrograms: auto (cuda when present), cpu, cuda."})
    bf16: bool = field(default=False, metadata={"help": "bf16 mixed precision for training (GPU)."})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers."})
    overwrite: bool = field(default=False, metadata={
        "help": "Allow writing into an existing output_dir that this command did not create, and restart a "
                "previous transfer run there from scratch: the files earlier transfer runs wrote there are deleted "
                "first (their manifest lists them); files that are not the run's are never touched."})
    dry_run: bool = field(default=False, metadata={
        "help": "Print the plan: dataset sizes, runs and estimated GPU-hours; run nothing."})
    gpu_tflops: float = field(default=peak_tflops(DEFAULT_GPU), metadata={
        "help": f"Dry run: peak dense bf16 TFLOP/s of the GPU ({DEFAULT_GPU}: {peak_tflops(DEFAULT_GPU):g})."})
    mfu: float = field(default=DEFAULT_MFU, metadata={"help": "Dry run: assumed model FLOP utilisation."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})
    rehearsal: bool = field(default=False, metadata={
        "help": "With --preset west-to-east: rehearse the study end to end at a toy budget (real builders on "
                "real-format data around Debian's game music, the published architectures, AST's ImageNet "
                "initialisation from a random DeiT, 1 epoch per run) and print each stage's wall time; see "
                "hf_culturemert.rehearsal.transfer. --models picks the families (default vggish musicnn ast)."})
    rehearsal_audio: Optional[str] = field(default=None, metadata={
        "help": "With --rehearsal: a folder of audio files to cut tracks from (default: Debian's asc-music and "
                "wesnoth-1.16-music, fetched once with apt-get into ~/.cache/hf-culturemert-rehearsal)."})

    def __post_init__(self):
        from .training import MODES

        if self.preset not in PRESETS:
            raise ValueError(f"--preset must be one of {PRESETS}, got {self.preset!r}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"--modes must be a non-empty subset of {list(MODES)}, got {self.modes}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {self.epochs}")
        if self.clips_per_split is not None and self.clips_per_split < 4:
            raise ValueError(f"--clips_per_split must be at least 4, got {self.clips_per_split}")
        if not 0 < self.mfu <= 1:
            raise ValueError(f"--mfu is a fraction in (0, 1], got {self.mfu}")
        if not (math.isfinite(self.gpu_tflops) and self.gpu_tflops > 0):
            raise ValueError(f"--gpu_tflops must be a positive, finite number of TFLOP/s, got {self.gpu_tflops}")
        if self.max_tracks is not None and self.max_tracks < 1:
            raise ValueError(f"--max_tracks must be at least 1 (leave it out to use every track), got "
                             f"{self.max_tracks}")
        if self.dry_run and self.preset == "miniature":
            raise ValueError("--dry_run plans --preset west-to-east (dataset sizes, runs, GPU-hours); the miniature "
                             "needs no plan (offline, CPU, minutes): drop --dry_run, or add --preset west-to-east")
        if self.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {self.seed}")
        if self.num_workers < 0:
            raise ValueError(f"--num_workers must be at least 0, got {self.num_workers}")
        if self.datasets is not None and len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"--datasets lists a dataset twice: {self.datasets}")
        if self.datasets is not None and len(self.datasets) < 2:
            raise ValueError(f"--datasets needs at least two datasets for transfer (a source and a different "
                             f"target), got {self.datasets}")
