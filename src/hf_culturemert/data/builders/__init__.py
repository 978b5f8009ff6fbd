"""Builders that turn the real sources into Hub-layout folders (CLIs: ``dataset_scripts/<name>.py``).

``lyra`` (user's video downloads + packaged metadata), ``dunya`` (makam, hindustani, carnatic over the Dunya API),
``mtat`` and ``fma`` (user's copies of the official archives). Each ``build_<name>(args)`` returns a
``BuildSummary``; corrupt, missing or undecodable recordings and malformed metadata rows are skipped and listed
with their reason in ``failures.jsonl``; reruns resume (finished shards and downloads are kept).
"""

from .common import AudioArchive, BuildArguments, BuildSummary, top_n_tags
from .dunya import DunyaArguments, DunyaClient, build_dunya, recording_tags
from .fma import FMAArguments, build_fma
from .lyra import LyraArguments, build_lyra, ccml_validation_split, piece_tags
from .mtat import MTATArguments, build_mtat

__all__ = ["AudioArchive", "BuildArguments", "BuildSummary", "top_n_tags", "DunyaArguments", "DunyaClient",
           "build_dunya", "recording_tags", "FMAArguments", "build_fma", "LyraArguments", "build_lyra",
           "ccml_validation_split", "piece_tags", "MTATArguments", "build_mtat"]
