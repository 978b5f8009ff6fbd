"""Train the probe heads shipped with the Space (one safetensors + JSON per model) on the synthetic corpus.

    # heads for the real models (needs the Hub or a local cache of the weights; ~10 min per model on CPU)
    python spaces/culturemert-demo/train_heads.py --models m-a-p/MERT-v1-95M ntua-slp/CultureMERT-95M \
        ntua-slp/CultureMERT-TA-95M
    # tiny random stand-ins + their heads: the offline default of the Space (seconds)
    python spaces/culturemert-demo/train_heads.py --tiny

Each model gets ``heads/<org>--<name>/{heads.safetensors,heads.json}``; with ``--tiny`` the stand-in model itself is
saved too (``heads/tiny--<org>--<name>/model/``, weights and config only: the Space loads it with the
package's classes) so that the Space falls back to exactly the model its heads fit.
"""

import logging
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from transformers import HfArgumentParser

from hf_culturemert.data import build_synthetic_corpus
from hf_culturemert.demo import DEFAULT_MODELS, TINY_PREFIX, model_slug, save_stand_in, train_demo_heads
from hf_culturemert.export import load_model
from hf_culturemert.testing import random_model, tiny_mert_config

logger = logging.getLogger("train_heads")


@dataclass
class TrainHeadsArguments:
    models: List[str] = field(default_factory=lambda: list(DEFAULT_MODELS),
                              metadata={"help": "Model ids or folders to train heads for."})
    tiny: bool = field(default=False, metadata={"help": "Train tiny random stand-ins of --models instead (offline)."})
    output_dir: str = field(default=str(Path(__file__).resolve().parent / "heads"),
                            metadata={"help": "Where the heads go (the Space's heads/ by default)."})
    corpus_dir: Optional[str] = field(default=None, metadata={
        "help": "A synthetic corpus folder (culturemert synthesize); built in a temporary folder when omitted."})
    clips_per_split: int = field(default=24, metadata={"help": "Clips per split and tradition when building."})
    clip_seconds: float = field(default=5.0, metadata={"help": "Clip length when building the corpus."})
    hidden_size: int = field(default=0, metadata={"help": "0: linear heads; >0: MLP heads with this width."})
    epochs: int = field(default=200, metadata={"help": "Full-batch training steps per head."})
    l2: float = field(default=3e-2, metadata={"help": "L2 penalty on head weights (calibrates the probabilities)."})
    seed: int = field(default=0, metadata={"help": "Seed of the corpus and the heads."})


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(TrainHeadsArguments).parse_args_into_dataclasses(argv)
    with tempfile.TemporaryDirectory() as scratch:
        corpus_root = args.corpus_dir or scratch
        corpus = build_synthetic_corpus(corpus_root, seed=args.seed, clip_seconds=args.clip_seconds,
                                        clips_per_split={"train": args.clips_per_split,
                                                         "validation": max(4, args.clips_per_split // 4),
                                                         "test": max(4, args.clips_per_split // 4)},
                                        num_proc=1, progress=False)
        for model_id in args.models:
            if args.tiny:
                folder = Path(args.output_dir) / f"{TINY_PREFIX}{model_slug(model_id)}"
                model = random_model(tiny_mert_config(), seed=zlib.crc32(model_id.encode()) % 2 ** 31)
                save_stand_in(model, folder / "model")  # weights + config; code from the package
                model = load_model(folder / "model").eval()  # train on exactly what the Space will load
            else:
                folder = Path(args.output_dir) / model_slug(model_id)
                model = load_model(model_id).eval()
            train_demo_heads(model, corpus, folder, model_id=model_id, hidden_size=args.hidden_size,
                             epochs=args.epochs, l2=args.l2, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
