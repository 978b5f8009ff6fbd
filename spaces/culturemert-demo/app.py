"""Hugging Face Space entry point: all logic lives in hf_culturemert.demo (importable and tested)."""

import logging
import os
from pathlib import Path

from hf_culturemert.demo import DemoArguments, build_demo

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # a refusal: 1 line
os.environ.setdefault("CULTUREMERT_DEMO_HEADS", str(Path(__file__).resolve().parent / "heads"))
args = DemoArguments()  # models, heads, limits: env vars CULTUREMERT_DEMO_{MODELS,HEADS,OFFLINE,MAX_SECONDS}
demo = build_demo(args)
demo.queue(default_concurrency_limit=1)

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                max_file_size=args.max_file_bytes)
