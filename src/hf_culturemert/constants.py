"""Values the whole package shares, defined once: MERT's sampling rate and the traditions of the study.

This module imports nothing, so every layer (the Hub remote code excepted, which must stand alone) may use it.
"""

SAMPLING_RATE = 24000
"""MERT-v1's input rate in Hz: every waveform is decoded or resampled to it."""

TRADITIONS = ("lyra", "makam", "hindustani", "carnatic")
"""The four non-Western traditions CultureMERT adapts to, in the paper's order."""

SYNTHETIC_TRADITIONS = ("western",) + TRADITIONS
"""The synthetic corpus: a western reference and the four traditions."""

DUNYA_TRADITIONS = ("makam", "hindustani", "carnatic")
"""The traditions whose recordings come from CompMusic's Dunya."""

EVALUATION_DATASETS = TRADITIONS + ("fma", "mtat")
"""The six datasets the paper evaluates on: the four traditions, FMA-medium and MagnaTagATune."""

CQT_IMPLEMENTATIONS = ("trimmed", "multirate", "nnaudio")
"""``CQTTeacher(implementation=...)``: the pre-training settings check it without importing torch."""
