"""Small, fast building blocks for pre-training tests and CPU smoke runs (not for real training)."""

from ..testing import tiny_mert_config
from ..teachers import CQTTeacher, build_encodec_teacher

LIGHT_CQT = dict(fmin=200.0, n_bins=96, bins_per_octave=24)  # kernels ~4k samples instead of ~64k


def tiny_pretraining_config(**overrides):
    """Tiny MERT (hidden 32, 2 layers) whose heads match the tiny EnCodec (8 x 1024) and the light CQT (96 bins)."""
    values = dict(codebook_size=1024, cqt_bins=LIGHT_CQT["n_bins"], mask_time_prob=0.05)
    values.update(overrides)
    return tiny_mert_config(**values)


def light_cqt_teacher():
    """A CQT with MERT's hop/centre/window but 4 octaves from 200 Hz: same code path, ~20x cheaper."""
    return CQTTeacher(**LIGHT_CQT)


def tiny_teachers(seed=0):
    """(tiny random EnCodec teacher with 8 codebooks x 1024, light CQT teacher)."""
    return build_encodec_teacher("random-tiny", 6.0, 8, seed=seed), light_cqt_teacher()
