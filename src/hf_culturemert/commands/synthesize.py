"""``culturemert synthesize``: write the synthetic multi-tradition corpus (the offline default data)."""

import dataclasses
import json
import logging
from dataclasses import field
from typing import Optional

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SynthesizeArguments:
    output_dir: str = field(metadata={"help": "Folder that receives one Hub-layout dataset folder per tradition."})
    seed: int = field(default=0, metadata={"help": "Seed; the same seed gives byte-identical parquet shards."})
    size: Optional[int] = field(default=None, metadata={
        "help": "Training clips per tradition (validation and test get a quarter each, at least 2); default 48/12/12."})
    clip_seconds: Optional[float] = field(default=None, metadata={"help": "Clip length in seconds, at least 1 (default 8)."})
    traditions: str = field(default="western,lyra,makam,hindustani,carnatic", metadata={
        "help": "Comma-separated traditions to generate."})
    sampling_rate: int = field(default=24000, metadata={"help": "Sampling rate of the written audio (Hz)."})
    num_proc: Optional[int] = field(default=None, metadata={"help": "Worker processes (default: up to 2)."})
    push_to_hub: Optional[str] = field(default=None, metadata={
        "help": "Upload each tradition to ORG/PREFIX-<tradition> (e.g. culturemert/synthetic)."})
    private: bool = field(default=False, metadata={"help": "Create private Hub repos with --push-to-hub."})
    overwrite: bool = field(default=False, metadata={
        "help": "Regenerate a tradition folder written with other settings, or generate into a folder that "
                "`synthesize` did not create (only the generator's own files are replaced)."})


def main(argv):
    from ..commands import make_parser

    (args,) = make_parser("synthesize", SynthesizeArguments, light=True).parse_args_into_dataclasses(args=argv)
    from ..data.hub_layout import push_to_hub
    from ..data.synthetic import DEFAULT_CLIPS_PER_SPLIT, build_synthetic_corpus

    clips = None
    if args.size is not None:
        if args.size < 1:
            raise ValueError(f"--size {args.size}: must be at least 1")
        clips = {"train": args.size, "validation": max(2, args.size // 4), "test": max(2, args.size // 4)}
    traditions = [t.strip() for t in args.traditions.split(",") if t.strip()]
    folders = build_synthetic_corpus(args.output_dir, seed=args.seed, clips_per_split=clips,
                                     clip_seconds=args.clip_seconds, traditions=traditions,
                                     sampling_rate=args.sampling_rate, num_proc=args.num_proc,
                                     overwrite=args.overwrite)
    if args.push_to_hub:
        for tradition, folder in folders.items():
            push_to_hub(folder, f"{args.push_to_hub}-{tradition}", private=args.private)
    summary = {t: str(f) for t, f in folders.items()}
    logger.info("Synthetic corpus (%s clips per split): %s", clips or DEFAULT_CLIPS_PER_SPLIT, json.dumps(summary))
    return 0
