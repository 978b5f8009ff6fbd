"""A synthetic multi-tradition corpus whose tags can only be predicted by listening.

Five traditions -- a "western" reference and Greek folk (lyra), Turkish makam, Hindustani and Carnatic -- each with
tag families that are *audible*:

- pitch organisation: scales/modes in their own tunings -- 12-TET major/minor (western, laiko), makams in 53-TET
  commas (Hicaz 5-12-5..., Rast 9-8-5..., with the comma-sized intervals of the Arel-Ezgi-Uzdilek system), ragas in
  just intonation over a Sa-Pa drone, ragamalika = the raga changes mid-clip; ornaments (vibrato, meend glides,
  Carnatic gamaka oscillations);
- rhythm: cycles of 4, 5, 6, 7, 8, 9, 10, 11, 12 and 16 pulses, each with its own accent pattern (usul, tala, dance
  metres); the melody repeats per cycle too; free rhythm (Alapana, ambient) has no pulse;
- timbre: plucked strings (Karplus-Strong with fractional delay, so microtonal pitches are exact), bowed and blown
  instruments, free reeds, voice-like formants, hammered strings, and percussion kits (tabla, mridangam, kudum, ...);
- drone or not (``instrument--Tambura``).

Tags use the real prefixes and names (``makam--Hicaz``, ``usul--Aksak``, ``raga--thodi``, ``tala--adi``,
``instruments--Klarino``, ``genres--Epirotic``, ``place--Epirus``...), every tag a subset of the real top-N
vocabulary, so a model probed on the synthetic corpus reads out the same label columns as on the real data.

Deterministic: every clip draws from ``SeedSequence([seed, tradition, split, index])``, FLAC encoding and parquet
writing are deterministic, hence same seed -> byte-identical shards. ``build_synthetic_corpus`` is idempotent and
resumable (complete folders are skipped), which makes it a cheap session fixture for tests.

Modules: ``vocabulary`` (scales, cycles, instruments, tag families), ``design`` (what each clip plays, drawn balanced
per split), ``synthesis`` (a design to a waveform) and ``writer`` (the dataset folders).
"""

from ...constants import SAMPLING_RATE
from .design import SPLIT_INDEX, ClipDesign, split_designs
from .synthesis import DEFAULT_CLIP_SECONDS, clip_rng, generate_clip, render_clip
from .vocabulary import CYCLES, MELODIC, PERCUSSION, SCALES, TRADITIONS, tradition_vocabulary
from .writer import DEFAULT_CLIPS_PER_SPLIT, GENERATOR_VERSION, SETTINGS_FILE, build_synthetic_corpus, build_tradition

__all__ = ["SAMPLING_RATE", "TRADITIONS", "SCALES", "CYCLES", "MELODIC", "PERCUSSION", "SPLIT_INDEX", "ClipDesign",
           "split_designs", "DEFAULT_CLIP_SECONDS", "clip_rng", "generate_clip", "render_clip", "tradition_vocabulary",
           "DEFAULT_CLIPS_PER_SPLIT", "GENERATOR_VERSION", "SETTINGS_FILE", "build_synthetic_corpus", "build_tradition"]
