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
"""

import dataclasses
import json
import logging
import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from scipy import signal

from ..constants import SAMPLING_RATE, SYNTHETIC_TRADITIONS
from ..outputs import OutputExistsError, ensure_writable_dir

logger = logging.getLogger(__name__)

TRADITIONS = SYNTHETIC_TRADITIONS
DEFAULT_CLIPS_PER_SPLIT = {"train": 48, "validation": 12, "test": 12}
DEFAULT_CLIP_SECONDS = 8.0
SPLIT_INDEX = {"train": 0, "validation": 1, "test": 2}
GENERATOR_VERSION = 2  # 2: Lyra's instrumentation follows its genre
SETTINGS_FILE = "synthetic.json"

# ---------------------------------------------------------------------------------------------------------------
# Pitch organisation (cents above the tonic, one octave)
# ---------------------------------------------------------------------------------------------------------------


def _commas(steps):
    """53-TET scale from Holdrian-comma steps (Arel-Ezgi-Uzdilek): 53 commas per octave, 1 comma ~ 22.6 cents."""
    assert sum(steps) == 53, steps
    return tuple(float(c) * 1200.0 / 53.0 for c in np.cumsum((0,) + tuple(steps[:-1])))


SCALES = {
    # 12-TET
    "major": (0, 200, 400, 500, 700, 900, 1100),
    "minor": (0, 200, 300, 500, 700, 800, 1000),
    "harmonic-minor": (0, 200, 300, 500, 700, 800, 1100),
    "mixolydian": (0, 200, 400, 500, 700, 900, 1000),
    "pentatonic-minor": (0, 300, 500, 700, 1000),
    "hijaz-12tet": (0, 100, 400, 500, 700, 800, 1000),
    "ousak-12tet": (0, 150, 300, 500, 700, 800, 1000),  # Greek dromos with a neutral second
    # Turkish makams, 53-TET commas
    "Rast": _commas((9, 8, 5, 9, 9, 8, 5)),
    "Uşşak": _commas((8, 5, 9, 9, 4, 9, 9)),
    "Hüseyni": _commas((8, 5, 9, 9, 8, 5, 9)),
    "Hicaz": _commas((5, 12, 5, 9, 8, 5, 9)),
    "Nihavent": _commas((9, 4, 9, 9, 4, 13, 5)),
    "Kürdilihicazkar": _commas((4, 9, 9, 9, 5, 12, 5)),
    "Hüzzam": _commas((5, 9, 5, 12, 5, 8, 9)),
    "Segah": _commas((5, 9, 9, 8, 5, 9, 8)),
    # ragas, just intonation (cents)
    "Bhairabi": (0, 112, 316, 498, 702, 814, 1018),
    "Yaman kalyan": (0, 204, 386, 590, 702, 884, 1088),
    "Bageshree": (0, 204, 316, 498, 884, 1018),
    "thodi": (0, 112, 316, 498, 702, 814, 1018),
    "bhairavi": (0, 204, 316, 498, 702, 906, 1018),
    "kalyani": (0, 204, 386, 590, 702, 884, 1088),
    "mohanam": (0, 204, 386, 702, 884),
    "shankarabharanam": (0, 204, 386, 498, 702, 884, 1088),
}

# ---------------------------------------------------------------------------------------------------------------
# Rhythmic cycles: one character per pulse. D = strong bass (+ high), d = weak bass, T = strong high, t = weak high.
# ---------------------------------------------------------------------------------------------------------------

CYCLES = {
    # western
    "4/4-rock": "D.t.T.t.D.D.T.t.",
    "4/4-four-on-floor": "DtTtDtTtDtTtDtTt",
    "3/4-waltz": "D.t.t.",
    # lyra (dance metres)
    "syrtos-2/4": "D.tT",
    "tsamiko-3/4": "D..tT.",
    "kalamatianos-7/8": "D.tT.T.",
    "karsilamas-9/8": "D.tD.tT.t",
    "zeibekiko-9/8": "D.t.T.tt.",
    "hasapiko-4/4": "D.tTD.tT",
    "leventiko-11/8": "D.T.Dt.T.t.",
    # makam usuls
    "Sofyan": "DtT.",
    "Yürüksemai": "D.tTt.",
    "Düyek": "DT.DT.t.",
    "Aksak": "D.tD.T.t.",
    "Aksaksemai": "D.tT.D.tT.",
    "Curcuna": "D.T.tD.T.T",
    # Hindustani talas (khali = no bass)
    "Teentaal": "DddDDddDTttTDddD",
    "Ektaal": "DdDdTtTtDdDd",
    "Jhaptaal": "DdDddTtDdd",
    "Rupak": "TtTDdDd",
    # Carnatic talas
    "adi": "DdTdDtDt",
    "rupaka": "DtDdTt",
    "mishra chapu": "D.tT.T.",
    "khanda chapu": "DtD.t",
}

# ---------------------------------------------------------------------------------------------------------------
# Instruments: melodic timbres and percussion kits
# ---------------------------------------------------------------------------------------------------------------

# kind, register (octave relative to the tonic), parameters
MELODIC = {
    # plucked: brightness 0..1 (excitation low-pass), decay (loop gain), tremolo (repeated plucks per second)
    "kanun": ("pluck", 0, dict(brightness=0.9, decay=0.996, buzz=0.0)),
    "tanbur": ("pluck", 0, dict(brightness=0.6, decay=0.998, buzz=0.3)),
    "oud": ("pluck", -1, dict(brightness=0.35, decay=0.993, buzz=0.0)),
    "laouto": ("pluck", -1, dict(brightness=0.5, decay=0.995, buzz=0.1)),
    "guitar": ("pluck", -1, dict(brightness=0.45, decay=0.997, buzz=0.0)),
    "rock-guitar": ("pluck", -1, dict(brightness=0.8, decay=0.999, buzz=2.5)),
    "bouzouki": ("pluck", 0, dict(brightness=0.95, decay=0.997, buzz=0.2, double=1.004, tremolo=0.0)),
    "mandolin": ("pluck", 0, dict(brightness=0.9, decay=0.992, buzz=0.0, tremolo=14.0, double=1.003)),
    "kanonaki": ("pluck", 0, dict(brightness=0.85, decay=0.996, buzz=0.0, double=1.002)),
    "santouri": ("pluck", 0, dict(brightness=1.0, decay=0.9985, buzz=0.0, double=1.005)),
    "sitar": ("pluck", 0, dict(brightness=0.9, decay=0.999, buzz=1.5, double=1.0)),
    "harpsichord": ("pluck", 0, dict(brightness=1.0, decay=0.995, buzz=0.4)),
    "bass": ("pluck", -2, dict(brightness=0.2, decay=0.998, buzz=0.0)),
    "piano": ("hammer", 0, dict(inharmonicity=0.0004, decay=1.2)),
    # continuous: source waveform, filter (formants / body), vibrato depth in cents
    "voice": ("voice", 0, dict(formants=((700, 90), (1150, 110), (2600, 160)), vibrato=35.0, breath=0.02)),
    "violin": ("bowed", 0, dict(body=((450, 120), (2800, 700)), vibrato=20.0, bright=1.0)),
    "kemence": ("bowed", 1, dict(body=((900, 150), (2200, 300)), vibrato=30.0, bright=1.4)),
    "lyra": ("bowed", 1, dict(body=((700, 200), (1800, 250)), vibrato=25.0, bright=1.3)),
    "sarangi": ("bowed", 0, dict(body=((550, 120), (1600, 180), (3000, 500)), vibrato=15.0, bright=1.1)),
    "cello": ("bowed", -1, dict(body=((250, 80), (1200, 400)), vibrato=18.0, bright=0.8)),
    "ney": ("blown", 0, dict(harmonics=(1.0, 0.25, 0.08), breath=0.35, vibrato=12.0)),
    "bansuri": ("blown", 1, dict(harmonics=(1.0, 0.4, 0.1, 0.05), breath=0.2, vibrato=15.0)),
    "flute": ("blown", 1, dict(harmonics=(1.0, 0.5, 0.2, 0.1), breath=0.06, vibrato=10.0)),
    "clarinet": ("clarinet", 0, dict(cutoff=3500.0, vibrato=6.0)),
    "klarino": ("clarinet", 1, dict(cutoff=6000.0, vibrato=22.0)),
    "harmonium": ("reed", 0, dict(detune=1.006, cutoff=4000.0)),
    "accordion": ("reed", 0, dict(detune=1.012, cutoff=5000.0)),
    "synth": ("synth", 0, dict(cutoff=2500.0, detune=1.01)),
}

# percussion kit: bass (frequency, pitch drop factor, decay s), high (kind, centre Hz, q, decay s), extras
PERCUSSION = {
    "darbuka": dict(bass=(90.0, 1.5, 0.18), high=("noise", 4500.0, 2.0, 0.04)),
    "frame-drum": dict(bass=(70.0, 1.2, 0.25), high=("noise", 2500.0, 1.5, 0.06)),
    "bendir": dict(bass=(60.0, 1.3, 0.3), high=("noise", 2000.0, 1.0, 0.08), snare=0.35),
    "kudum": dict(bass=(160.0, 0.3, 0.09), high=("tone", 420.0, 8.0, 0.06)),
    "tabla": dict(bass=(75.0, 2.0, 0.35), high=("tuned", 2.0, 12.0, 0.22)),
    "pakhavaj": dict(bass=(55.0, 1.0, 0.45), high=("tuned", 1.0, 6.0, 0.12)),
    "mridangam": dict(bass=(80.0, 0.6, 0.25), high=("tuned", 2.0, 10.0, 0.18)),
    "ghatam": dict(bass=(180.0, 0.2, 0.05), high=("tone", 1300.0, 10.0, 0.05)),
    "khanjira": dict(bass=(110.0, 0.8, 0.12), high=("noise", 3000.0, 1.5, 0.05), jingles=0.5),
    "morsing": dict(bass=None, high=("twang", 1.0, 0.0, 0.15)),
    "drums": dict(bass=(55.0, 2.5, 0.2), high=("snare", 1800.0, 0.8, 0.12), hihat=0.25),
}

# ---------------------------------------------------------------------------------------------------------------
# Traditions: tag families and how a design turns into tags
# ---------------------------------------------------------------------------------------------------------------

WESTERN_GENRES = {
    # genre: (scales, cycles, pulse range, lead pool, accompaniment pool, percussion)
    "classical": (("major", "minor"), ("3/4-waltz", "4/4-rock"), (3.0, 5.0),
                  ("piano", "violin", "cello", "flute", "harpsichord"), ("violin", "cello", "piano"), None),
    "rock": (("minor", "mixolydian"), ("4/4-rock",), (5.0, 7.0), ("rock-guitar",), ("bass",), "drums"),
    "techno": (("minor",), ("4/4-four-on-floor",), (7.5, 9.0), ("synth",), ("bass",), "drums"),
    "ambient": (("major", "minor"), (None,), (1.0, 1.6), ("synth", "piano", "flute"), ("synth",), None),
    "pop": (("major",), ("4/4-rock",), (4.5, 6.5), ("voice", "piano", "guitar"), ("guitar", "piano", "bass"), "drums"),
}
WESTERN_FEATURED = {  # featured instrument -> the genres that feature it
    "piano": ("classical", "ambient", "pop"), "violin": ("classical",), "cello": ("classical",),
    "flute": ("classical", "ambient"), "harpsichord": ("classical",), "rock-guitar": ("rock",),
    "guitar": ("pop",), "synth": ("techno", "ambient"), "voice": ("pop", "rock"),
}
WESTERN_TAG = {"piano": "piano", "violin": "violin", "cello": "cello", "flute": "flute", "harpsichord": "harpsichord",
               "rock-guitar": "guitar", "guitar": "guitar", "synth": "synth", "voice": "vocal", "bass": None}

LYRA_GENRES = {
    # genre: (extra genre tags, place, scales, cycles, pulse range, lead pool, accompaniment pool, percussion prob.)
    "Nisiotiko": (("Traditional", "Aegean"), "Aegean-sea", ("mixolydian", "major"), ("syrtos-2/4",), (5.0, 7.0),
                  ("Violin", "Lyra", "Voice"), ("Santouri", "Laouto", "Violin"), 0.6),
    "Epirotic": (("Traditional",), "Epirus", ("pentatonic-minor",), ("tsamiko-3/4",), (2.5, 3.5),
                 ("Klarino", "Voice"), ("Violin", "Laouto"), 0.3),
    "Mikrasiatiko": (("Traditional",), "Asia-minor", ("hijaz-12tet",), ("karsilamas-9/8",), (5.0, 6.5),
                     ("Oud", "Voice", "Violin"), ("Kanonaki", "Santouri", "Oud"), 0.7),
    "Rebetiko": ((), "None", ("ousak-12tet", "hijaz-12tet"), ("zeibekiko-9/8",), (3.0, 4.0),
                 ("Bouzouki", "Voice"), ("Guitar", "Bouzouki"), 0.0),
    "Laiko": ((), "None", ("harmonic-minor", "minor"), ("hasapiko-4/4",), (4.5, 6.0),
              ("Bouzouki", "Voice", "Accordion"), ("Guitar", "Piano", "Bass"), 0.8),
    "Macedonian": (("Traditional",), "Macedonia", ("harmonic-minor",), ("leventiko-11/8",), (5.5, 7.0),
                   ("Klarino", "Accordion"), ("Accordion", "Violin"), 0.9),
    "Peloponnesian": (("Traditional",), "Peloponnese", ("minor", "major"), ("kalamatianos-7/8",), (5.0, 6.5),
                      ("Klarino", "Violin", "Voice"), ("Laouto", "Mandolin"), 0.6),
}
LYRA_INSTRUMENT = {"Violin": "violin", "Lyra": "lyra", "Voice": "voice", "Klarino": "klarino", "Oud": "oud",
                   "Bouzouki": "bouzouki", "Accordion": "accordion", "Santouri": "santouri", "Laouto": "laouto",
                   "Kanonaki": "kanonaki", "Guitar": "guitar", "Piano": "piano", "Bass": "bass",
                   "Mandolin": "mandolin"}

MAKAMS = ("Hicaz", "Nihavent", "Hüzzam", "Kürdilihicazkar", "Uşşak", "Rast", "Segah", "Hüseyni")
USULS = ("Aksak", "Düyek", "Aksaksemai", "Curcuna", "Yürüksemai", "Sofyan")
MAKAM_LEADS = {"Voice": "voice", "Ney": "ney", "Tanbur": "tanbur", "Kanun": "kanun", "Oud": "oud",
               "Classical kemençe": "kemence", "Violin": "violin", "Clarinet": "clarinet", "Cello": "cello"}
MAKAM_PERCUSSION = {"Kudüm": "kudum", "Bendir": "bendir", "Percussion": "darbuka"}

HINDUSTANI_RAGAS = ("Bhairabi", "Yaman kalyan", "Bageshree")
HINDUSTANI_TALAS = ("Teentaal", "Ektaal", "Jhaptaal", "Rupak")
HINDUSTANI_FORMS = {  # form: (pulse range, notes per pulse, ornament)
    "Khayal": ((2.5, 3.5), 1, "meend"), "Dhrupad": ((1.8, 2.4), 1, "meend"), "Thumri": ((3.0, 4.0), 1, "vibrato"),
    "Bhajan": ((4.0, 5.0), 1, "none"), "Tarana": ((6.0, 7.5), 2, "none"),
}
HINDUSTANI_LEADS = {"Voice": "voice", "Sitar": "sitar", "Sarangi": "sarangi", "Bansuri": "bansuri"}

CARNATIC_RAGAS = ("thodi", "bhairavi", "kalyani", "ragamalika")
CARNATIC_TALAS = ("adi", "rupaka", "mishra chapu", "khanda chapu")
CARNATIC_FORMS = {  # form: (pulse range, notes per pulse, free rhythm)
    "Kriti": ((3.5, 4.5), 1, False), "Varnam - Tana Varnam": ((5.0, 6.0), 2, False), "Alapana": ((2.0, 3.0), 1, True),
    "Pallavi": ((2.5, 3.2), 1, False), "Thillana": ((6.0, 7.0), 2, False), "Mangalam": ((2.0, 2.6), 1, False),
}
CARNATIC_PERCUSSION = {"Ghatam": "ghatam", "Khanjira": "khanjira", "Morsing": "morsing"}


def tradition_vocabulary(tradition: str) -> list:
    """The ordered tags the generator can emit for ``tradition`` (real top-N order for the four traditions)."""
    if tradition == "western":
        return ["classical", "rock", "techno", "ambient", "pop", "guitar", "piano", "violin", "cello", "flute",
                "harpsichord", "synth", "drums", "vocal", "no vocals", "fast", "slow"]
    emitted = set(_emittable_tags(tradition))
    from .metadata import real_vocabularies

    real = real_vocabularies()[tradition]["tags"]
    return [tag for tag in real if tag in emitted]


def _emittable_tags(tradition):
    if tradition == "lyra":
        tags = {f"instruments--{name}" for name in LYRA_INSTRUMENT} | {"instruments--Percussion"}
        for genre, (extra, place, *_rest) in LYRA_GENRES.items():
            tags |= {f"genres--{genre}", f"place--{place}"} | {f"genres--{g}" for g in extra}
        return tags
    if tradition == "makam":
        return ({f"makam--{m}" for m in MAKAMS} | {f"usul--{u}" for u in USULS}
                | {f"instrument--{i}" for i in list(MAKAM_LEADS) + list(MAKAM_PERCUSSION)})
    if tradition == "hindustani":
        return ({f"raga--{r}" for r in HINDUSTANI_RAGAS} | {f"tala--{t}" for t in HINDUSTANI_TALAS}
                | {f"form--{f}" for f in HINDUSTANI_FORMS}
                | {f"instrument--{i}" for i in list(HINDUSTANI_LEADS) + ["Harmonium", "Tabla", "Pakhavaj", "Tambura"]})
    if tradition == "carnatic":
        return ({f"raga--{r}" for r in CARNATIC_RAGAS} | {f"tala--{t}" for t in CARNATIC_TALAS}
                | {f"form--{f}" for f in CARNATIC_FORMS}
                | {f"instrument--{i}" for i in ["Voice", "Violin", "Mridangam"] + list(CARNATIC_PERCUSSION)})
    raise ValueError(f"Unknown synthetic tradition {tradition!r}; choose from {', '.join(TRADITIONS)}")


@dataclasses.dataclass
class ClipDesign:
    """Everything that decides how a clip sounds; ``tags`` are derived from it and nothing else."""

    tags: list
    scales: list  # one scale name per section (ragamalika: several)
    tonic_hz: float
    cycle: Optional[str]  # key of CYCLES, None = free rhythm
    pulse_rate: float  # pulses per second
    notes_per_pulse: int
    lead: str
    accompaniment: list
    percussion: list
    drone: bool
    ornament: str  # none | vibrato | meend | gamaka


def _balanced(rng, values, count):
    """``count`` draws from ``values`` with (almost) equal counts, in random order: every tag appears in every split."""
    order = [values[i] for i in rng.permutation(len(values))]  # which values a short split misses is random
    out = [order[i % len(order)] for i in range(count)]
    rng.shuffle(out)
    return out


def _designs(tradition: str, count: int, rng: np.random.Generator) -> list:
    if tradition == "western":
        # the featured instrument is drawn balanced (every instrument tag occurs in every split) and the genre is
        # the least used one among those that feature it (instrument and genre stay coupled, as in real music)
        featured = _balanced(rng, list(WESTERN_FEATURED) + ["synth"], count)  # two synth draws: techno + ambient
        used = {genre: 0 for genre in WESTERN_GENRES}
        designs = []
        for lead in featured:
            genre = min(WESTERN_FEATURED[lead], key=lambda g: (used[g], float(rng.random())))
            used[genre] += 1
            scales, cycles, pulses, _leads, accs, kit = WESTERN_GENRES[genre]
            acc = [str(a) for a in rng.choice(accs, size=int(rng.integers(0, 2)), replace=False) if a != lead]
            cycle = cycles[int(rng.integers(len(cycles)))]
            rate = float(rng.uniform(*pulses))
            tags = [genre] + [WESTERN_TAG[i] for i in [lead] + acc if WESTERN_TAG[i]]
            tags += ["drums"] if kit else []
            tags += ["vocal"] if lead == "voice" else ["no vocals"]
            tags += ["fast"] if rate >= 6.0 else (["slow"] if rate <= 3.5 else [])
            designs.append(ClipDesign(list(dict.fromkeys(tags)), [str(rng.choice(scales))],
                                      float(rng.uniform(220, 330)), cycle, rate, 1, lead, acc,
                                      [kit] if kit else [], False,
                                      "vibrato" if lead in ("violin", "cello", "voice") else "none"))
        return designs
    if tradition == "lyra":
        # genre decides scale, dance metre, place, percussion odds and the lead instrument (a balanced draw from the
        # genre's lead pool, as regional styles have their own: Epirotic klarino, Nisiotiko lyra, Rebetiko bouzouki);
        # two accompanying instruments are balanced draws over all 14, so every instrument occurs in every split
        genres = _balanced(rng, list(LYRA_GENRES), count)
        leads = {genre: iter(_balanced(rng, list(spec[5]), genres.count(genre))) for genre, spec in LYRA_GENRES.items()}
        slots = _balanced(rng, list(LYRA_INSTRUMENT), 2 * count)
        designs = []
        for genre, pair in zip(genres, zip(slots[::2], slots[1::2])):
            lead = next(leads[genre])
            extra, place, scales, cycles, pulses, _leads, _accs, perc_p = LYRA_GENRES[genre]
            acc = [name for name in dict.fromkeys(pair) if name != lead]
            perc = rng.random() < perc_p
            tags = [f"genres--{genre}"] + [f"genres--{g}" for g in extra] + [f"place--{place}"]
            tags += [f"instruments--{i}" for i in [lead] + acc] + (["instruments--Percussion"] if perc else [])
            designs.append(ClipDesign(tags, [str(rng.choice(scales))], float(rng.uniform(250, 320)), cycles[0],
                                      float(rng.uniform(*pulses)), 1, LYRA_INSTRUMENT[lead],
                                      [LYRA_INSTRUMENT[a] for a in acc], ["frame-drum"] if perc else [], False,
                                      "vibrato" if lead in ("Voice", "Violin", "Lyra", "Klarino") else "none"))
        return designs
    if tradition == "makam":
        makams, usuls = _balanced(rng, list(MAKAMS), count), _balanced(rng, list(USULS), count)
        leads, percs = _balanced(rng, list(MAKAM_LEADS), count), _balanced(rng, list(MAKAM_PERCUSSION), count)
        designs = []
        for makam, usul, lead, perc in zip(makams, usuls, leads, percs):
            others = [k for k in MAKAM_LEADS if k != lead]
            acc = [str(a) for a in rng.choice(others, size=int(rng.integers(0, 2)), replace=False)]
            tags = [f"makam--{makam}", f"usul--{usul}"] + [f"instrument--{i}" for i in [lead] + acc + [perc]]
            designs.append(ClipDesign(tags, [makam], float(rng.uniform(250, 300)), usul, float(rng.uniform(4.0, 6.0)),
                                      1, MAKAM_LEADS[lead], [MAKAM_LEADS[a] for a in acc], [MAKAM_PERCUSSION[perc]],
                                      False, "meend" if MAKAM_LEADS[lead] in ("ney", "voice", "kemence") else "none"))
        return designs
    if tradition == "hindustani":
        ragas, talas = _balanced(rng, list(HINDUSTANI_RAGAS), count), _balanced(rng, list(HINDUSTANI_TALAS), count)
        forms, leads = _balanced(rng, list(HINDUSTANI_FORMS), count), _balanced(rng, list(HINDUSTANI_LEADS), count)
        drones = _balanced(rng, [True, True, False], count)
        designs = []
        for raga, tala, form, lead, drone in zip(ragas, talas, forms, leads, drones):
            pulses, density, ornament = HINDUSTANI_FORMS[form]
            harmonium = bool(rng.random() < 0.4) and lead != "Sarangi"
            kit = "Pakhavaj" if form == "Dhrupad" else "Tabla"
            acc = ["Harmonium"] if harmonium else []
            tags = [f"raga--{raga}", f"tala--{tala}", f"form--{form}"]
            tags += [f"instrument--{i}" for i in [lead] + acc + [kit]] + (["instrument--Tambura"] if drone else [])
            designs.append(ClipDesign(tags, [raga], float(rng.uniform(130, 160)), tala, float(rng.uniform(*pulses)),
                                      density, HINDUSTANI_LEADS[lead], ["harmonium"] if harmonium else [],
                                      [kit.lower()], drone, ornament if HINDUSTANI_LEADS[lead] != "sitar" else "meend"))
        return designs
    if tradition == "carnatic":
        ragas, talas = _balanced(rng, list(CARNATIC_RAGAS), count), _balanced(rng, list(CARNATIC_TALAS), count)
        forms = _balanced(rng, list(CARNATIC_FORMS), count)
        secondary = _balanced(rng, [None] + list(CARNATIC_PERCUSSION), count)
        ensembles = _balanced(rng, ["voice+violin", "voice+violin", "voice", "violin"], count)
        designs = []
        for raga, tala, form, second, ensemble in zip(ragas, talas, forms, secondary, ensembles):
            pulses, density, free = CARNATIC_FORMS[form]
            lead = ensemble.split("+")[0]
            acc = ["violin"] if ensemble == "voice+violin" else []
            scales = [raga] if raga != "ragamalika" else [str(s) for s in rng.choice(
                ["thodi", "kalyani", "mohanam", "shankarabharanam"], size=2, replace=False)]
            tags = [f"raga--{raga}", f"form--{form}", "instrument--Voice" if lead == "voice" else "instrument--Violin"]
            tags += ["instrument--Violin"] if acc else []
            perc = []
            if not free:
                tags += [f"tala--{tala}", "instrument--Mridangam"]
                perc = ["mridangam"]
                if second:
                    tags.append(f"instrument--{second}")
                    perc.append(CARNATIC_PERCUSSION[second])
            designs.append(ClipDesign(tags, scales, float(rng.uniform(130, 160)), None if free else tala,
                                      float(rng.uniform(*pulses)), density, lead, acc, perc, True, "gamaka"))
        return designs
    raise ValueError(f"Unknown synthetic tradition {tradition!r}; choose from {', '.join(TRADITIONS)}")


# ---------------------------------------------------------------------------------------------------------------
# Synthesis
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Note:
    start: float  # seconds
    duration: float
    cents: float  # above the tonic
    accent: float  # 0..1


def _scale_cents(scale, degree):
    octave, index = divmod(degree, len(scale))
    return scale[index] + 1200.0 * octave


def _compose(design: ClipDesign, seconds: float, rng) -> list:
    """Melody: one phrase per rhythmic cycle, repeated with small variations (so the melody carries the cycle too)."""
    notes = []
    sections = len(design.scales)
    if design.cycle is None:  # free rhythm: notes of irregular length, long on the tonic and fifth
        t, degree = 0.0, 0
        while t < seconds:
            scale = SCALES[design.scales[min(int(t / seconds * sections), sections - 1)]]
            duration = float(rng.uniform(0.35, 1.3))
            degree = int(np.clip(degree + rng.integers(-2, 3), -2, len(scale) + 3))
            notes.append(Note(t, duration, _scale_cents(scale, degree), float(rng.uniform(0.5, 0.8))))
            t += duration
        return notes
    pattern = CYCLES[design.cycle]
    pulse = 1.0 / design.pulse_rate
    step = pulse / design.notes_per_pulse
    cycle_len = len(pattern)
    phrase = []  # (offset in steps, length in steps, degree)
    position, degree, total = 0, 0, cycle_len * design.notes_per_pulse
    while position < total:
        on_strong = pattern[(position // design.notes_per_pulse) % cycle_len] in "DT"
        length = int(rng.choice([1, 1, 2, 2, 3])) if design.notes_per_pulse == 1 else int(rng.choice([1, 1, 1, 2]))
        length = min(length, total - position)
        if position == 0:
            degree = int(rng.choice([0, 4, 7]))  # sam: tonic, fifth or octave
        else:
            degree = int(np.clip(degree + rng.choice([-2, -1, -1, 1, 1, 2, 0]), -3, 9))
        phrase.append((position, length, degree, 1.0 if position == 0 else (0.75 if on_strong else 0.55)))
        position += length
    num_cycles = int(math.ceil(seconds / (cycle_len * pulse)))
    for c in range(num_cycles):
        base = c * cycle_len * pulse
        scale = SCALES[design.scales[min(int(base / seconds * sections), sections - 1)]]
        for offset, length, deg, accent in phrase:
            if c > 0 and rng.random() < 0.2:  # variation
                deg = int(np.clip(deg + rng.choice([-1, 1]), -3, 9))
            start = base + offset * step
            if start >= seconds:
                break
            notes.append(Note(start, length * step, _scale_cents(scale, deg), accent))
    return notes


def _envelope(n, sr, attack, release):
    env = np.ones(n, dtype=np.float64)
    a, r = min(n, max(1, int(attack * sr))), min(n, max(1, int(release * sr)))
    env[:a] = np.linspace(0.0, 1.0, a)
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


def _karplus_strong(freq, n, sr, rng, brightness, decay):
    """Plucked string with a first-order all-pass in the loop: the fractional delay keeps microtonal pitches exact."""
    period = sr / freq
    delay = int(math.floor(period - 0.5 - 0.1))  # integer part; averaging filter adds 0.5 sample
    frac = period - 0.5 - delay  # in [0.1, 1.1)
    c = (1.0 - frac) / (1.0 + frac)
    g = decay ** (440.0 / max(freq, 40.0))  # low notes ring longer, as on real strings
    burst = rng.uniform(-1.0, 1.0, size=max(2, delay))
    if brightness < 1.0:  # darker excitation
        burst = signal.lfilter([1.0 - (1.0 - brightness) * 0.9], [1.0, -(1.0 - brightness) * 0.9], burst)
    excitation = np.zeros(n)
    excitation[:len(burst)] = burst[:n]
    a = np.zeros(delay + 3)
    a[0], a[1] = 1.0, c
    a[delay] -= g * c / 2.0
    a[delay + 1] -= g * (1.0 + c) / 2.0
    a[delay + 2] -= g / 2.0
    return signal.lfilter([1.0, c], a, excitation)


def _pluck(cache, freq, n, sr, rng, brightness, decay):
    """Karplus-Strong tones cached per clip and pitch (a melody reuses few pitches; low strings are costly)."""
    key = (round(float(freq), 4), brightness, decay)
    tone = cache.get(key)
    if tone is None or len(tone) < n:
        tone = _karplus_strong(freq, max(n, int(1.5 * sr)), sr, rng, brightness, decay)
        cache[key] = tone
    return tone[:n]


def _phase(f0, sr):
    return np.cumsum(f0) / sr  # in cycles


def _polyblep_saw(phase_cycles, f0, sr):
    t = phase_cycles % 1.0
    dt = np.maximum(f0 / sr, 1e-6)
    saw = 2.0 * t - 1.0
    low = t < dt
    x = t[low] / dt[low]
    saw[low] -= x + x - x * x - 1.0
    high = t > 1.0 - dt
    x = (t[high] - 1.0) / dt[high]
    saw[high] -= x * x + x + x + 1.0
    return saw


def _resonators(x, sr, peaks):
    out = np.zeros_like(x)
    for centre, bandwidth in peaks:
        r = math.exp(-math.pi * bandwidth / sr)
        theta = 2 * math.pi * centre / sr
        out += signal.lfilter([1.0 - r], [1.0, -2 * r * math.cos(theta), r * r], x)
    return out


def _lowpass(x, sr, cutoff, order=2):
    b, a = signal.butter(order, min(cutoff, 0.45 * sr) / (sr / 2), btype="low")
    return signal.lfilter(b, a, x)


def _bandpass(x, sr, centre, q):
    low, high = centre / (1 + 0.5 / max(q, 0.2)), min(centre * (1 + 0.5 / max(q, 0.2)), 0.45 * sr)
    b, a = signal.butter(2, [low / (sr / 2), high / (sr / 2)], btype="band")
    return signal.lfilter(b, a, x)


def _contour(notes, n, sr, tonic, octave, ornament, vibrato_cents, rng):
    """Sample-wise f0 and amplitude for continuous instruments, with glides (meend), vibrato or gamaka."""
    cents = np.full(n, np.nan)
    amp = np.zeros(n)
    previous = None
    for note in notes:
        s = int(note.start * sr)
        e = min(n, int((note.start + note.duration) * sr))
        if e <= s:
            continue
        seg = np.full(e - s, note.cents)
        if ornament == "meend" and previous is not None:
            g = min(len(seg), int(0.3 * (e - s)))
            seg[:g] = np.linspace(previous, note.cents, g)
        elif ornament == "gamaka" and note.duration > 0.2:
            t = np.arange(e - s) / sr
            seg = seg + 90.0 * (1 - np.cos(2 * math.pi * 5.5 * t)) * (rng.random() < 0.6)
        cents[s:e] = seg
        amp[s:e] = (0.6 + 0.4 * note.accent) * _envelope(e - s, sr, 0.03, min(0.08, 0.3 * note.duration))
        previous = note.cents
    cents = np.where(np.isnan(cents), 0.0, cents)
    if vibrato_cents and ornament != "gamaka":
        t = np.arange(n) / sr
        rate = float(rng.uniform(5.0, 6.5))
        cents = cents + vibrato_cents * np.sin(2 * math.pi * rate * t) * np.minimum(1.0, t / 0.5)
    f0 = tonic * 2.0 ** (octave + cents / 1200.0)
    return f0, amp


def _render_melodic(name, notes, n, sr, tonic, ornament, rng):
    kind, octave, p = MELODIC[name]
    if kind == "pluck":
        cache = {}
        out = np.zeros(n)
        for note in notes:
            s = int(note.start * sr)
            if s >= n:
                continue
            length = min(n - s, int((note.duration + 0.4) * sr))
            freq = tonic * 2.0 ** (octave + note.cents / 1200.0)
            onsets = [0.0]
            if p.get("tremolo"):
                onsets = list(np.arange(0.0, note.duration, 1.0 / p["tremolo"]))
            for onset in onsets:
                o = s + int(onset * sr)
                m = min(n - o, length - int(onset * sr))
                if m <= 8:
                    continue
                tone = _pluck(cache, freq, m, sr, rng, p["brightness"], p["decay"])
                if p.get("double"):
                    tone = tone + _pluck(cache, freq * p["double"], m, sr, rng, p["brightness"], p["decay"])
                out[o:o + m] += note.accent * tone
        if p.get("buzz"):
            out = np.tanh((1.0 + p["buzz"]) * out / (np.max(np.abs(out)) + 1e-9))
        return out
    if kind == "hammer":
        out = np.zeros(n)
        for note in notes:
            s = int(note.start * sr)
            if s >= n:
                continue
            m = min(n - s, int((note.duration + 0.6) * sr))
            t = np.arange(m) / sr
            freq = tonic * 2.0 ** (octave + note.cents / 1200.0)
            tone = np.zeros(m)
            for k in range(1, 9):
                fk = freq * k * math.sqrt(1 + p["inharmonicity"] * k * k)
                if fk > 0.45 * sr:
                    break
                tone += np.exp(-t * k / p["decay"]) * np.sin(2 * math.pi * fk * t) / k
            out[s:s + m] += note.accent * tone * _envelope(m, sr, 0.002, 0.05)
        return out
    vibrato = p.get("vibrato", 0.0) if ornament in ("vibrato", "meend", "none") else 0.0
    if kind in ("voice", "bowed") and ornament == "none":
        vibrato = p.get("vibrato", 0.0) * 0.5
    f0, amp = _contour(notes, n, sr, tonic, octave, ornament, vibrato, rng)
    phase = _phase(f0, sr)
    if kind == "voice":
        source = _polyblep_saw(phase, f0, sr) + p["breath"] * rng.standard_normal(n)
        out = _resonators(source, sr, p["formants"])
    elif kind == "bowed":
        source = _polyblep_saw(phase, f0, sr)
        source = source + 0.05 * rng.standard_normal(n) * (p["bright"] - 0.5)
        out = _resonators(source, sr, p["body"]) + 0.15 * p["bright"] * source
    elif kind == "blown":
        out = sum(h * np.sin(2 * math.pi * (k + 1) * phase) for k, h in enumerate(p["harmonics"]))
        breath = _bandpass(rng.standard_normal(n), sr, 2000.0, 0.7)
        out = out + p["breath"] * breath
    elif kind == "clarinet":  # odd harmonics: difference of two saws half a period apart = square
        out = _lowpass(_polyblep_saw(phase, f0, sr) - _polyblep_saw(phase + 0.5, f0, sr), sr, p["cutoff"])
    elif kind == "reed":
        out = _polyblep_saw(phase, f0, sr) + 0.7 * _polyblep_saw(_phase(f0 * p["detune"], sr), f0 * p["detune"], sr)
        out = _lowpass(out, sr, p["cutoff"])
    elif kind == "synth":
        out = _polyblep_saw(phase, f0, sr) + _polyblep_saw(_phase(f0 * p["detune"], sr), f0 * p["detune"], sr)
        out = _lowpass(out, sr, p["cutoff"], order=4)
    else:  # pragma: no cover - table and code are edited together
        raise ValueError(f"Unknown instrument kind {kind!r} for {name!r}")
    return out * amp


def _stroke(kit, kind, strength, sr, tonic, rng):
    p = PERCUSSION[kit]
    length = int(0.5 * sr)
    t = np.arange(length) / sr
    out = np.zeros(length)
    if kind == "bass" and p["bass"] is not None:
        freq, drop, decay = p["bass"]
        f = freq * (1.0 + drop * np.exp(-t / 0.03))
        out += np.sin(2 * math.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
        out += 0.2 * rng.standard_normal(length) * np.exp(-t / 0.005)
        if p.get("snare"):
            out += p["snare"] * _bandpass(rng.standard_normal(length), sr, 3000.0, 0.8) * np.exp(-t / 0.1)
    if kind == "high":
        high_kind, centre, q, decay = p["high"]
        if high_kind == "noise":
            out += _bandpass(rng.standard_normal(length), sr, centre, q) * np.exp(-t / decay) * 2.0
        elif high_kind == "snare":
            out += (_bandpass(rng.standard_normal(length), sr, centre, q) * 1.5 + 0.5 * np.sin(2 * math.pi * 190 * t)) \
                * np.exp(-t / decay)
        elif high_kind == "tone":
            out += np.sin(2 * math.pi * centre * t) * np.exp(-t / decay)
            out += 0.3 * _bandpass(rng.standard_normal(length), sr, centre * 2.5, 2.0) * np.exp(-t / 0.01)
        elif high_kind == "tuned":  # tabla/mridangam right head tuned to the tonic: harmonic partials ring
            f = tonic * centre
            out += sum(np.sin(2 * math.pi * f * k * t) * np.exp(-t * k / decay) / k for k in (1, 2, 3, 4))
            out += 0.4 * _bandpass(rng.standard_normal(length), sr, 2500.0, 1.0) * np.exp(-t / 0.008)
        elif high_kind == "twang":  # jaw harp: buzzing pulse train at the tonic through a sweeping resonance
            f0 = np.full(length, tonic * centre)
            source = _polyblep_saw(_phase(f0, sr), f0, sr)
            sweep = np.sin(2 * math.pi * np.cumsum(400.0 + 1600.0 * np.minimum(1.0, t / 0.15)) / sr)
            out += np.tanh(2.0 * source) * (0.5 + 0.5 * sweep) * np.exp(-t / decay)
        if p.get("jingles"):
            out += p["jingles"] * _bandpass(rng.standard_normal(length), sr, 7000.0, 1.0) * np.exp(-t / 0.09)
    return strength * out


def _render_percussion(kit, design, n, sr, rng):
    out = np.zeros(n)
    pattern = CYCLES[design.cycle]
    pulse = 1.0 / design.pulse_rate
    strokes = {"D": (("bass", 1.0), ("high", 0.4)), "d": (("bass", 0.5),), "T": (("high", 1.0),),
               "t": (("high", 0.45),), ".": ()}
    cache = {}
    for i in range(int(math.ceil(n / sr / pulse))):
        s = int(i * pulse * sr)
        if s >= n:
            break
        for kind, strength in strokes[pattern[i % len(pattern)]]:
            key = (kind, int(rng.integers(0, 3)))  # a few stroke variants, reused
            if key not in cache:
                cache[key] = _stroke(kit, kind, 1.0, sr, design.tonic_hz, rng)
            sound = cache[key]
            m = min(len(sound), n - s)
            out[s:s + m] += strength * sound[:m]
        if PERCUSSION[kit].get("hihat"):
            hat = cache.setdefault("hat", _bandpass(rng.standard_normal(int(0.05 * sr)), sr, 8000.0, 1.0)
                                   * np.exp(-np.arange(int(0.05 * sr)) / sr / 0.015))
            m = min(len(hat), n - s)
            out[s:s + m] += PERCUSSION[kit]["hihat"] * hat[:m]
    return out


def _render_drone(design, n, sr, rng):
    """Tambura: Pa - Sa' - Sa' - Sa plucked in a loop, long-ringing buzzing strings."""
    out = np.zeros(n)
    cache = {}
    period = 1.6
    pitches = (-500.0, 0.0, 0.0, -1200.0)  # Pa below Sa, Sa, Sa, low Sa
    i = 0
    while True:
        s = int(i * period / 4 * sr)
        if s >= n:
            break
        m = min(n - s, int(2.5 * sr))
        freq = design.tonic_hz * 2.0 ** (pitches[i % 4] / 1200.0)
        out[s:s + m] += _pluck(cache, freq, m, sr, rng, 0.95, 0.9995)
        i += 1
    return np.tanh(1.5 * out / (np.max(np.abs(out)) + 1e-9))


def _rms(x):
    return float(np.sqrt(np.mean(x * x)) + 1e-12)


def render_clip(design: ClipDesign, seconds: float, sampling_rate: int, rng) -> np.ndarray:
    """Render a design to a mono float32 waveform peaking at about -1 dBFS."""
    n = int(round(seconds * sampling_rate))
    notes = _compose(design, seconds, rng)
    mix = np.zeros(n)
    lead = _render_melodic(design.lead, notes, n, sampling_rate, design.tonic_hz, design.ornament, rng)
    mix += 0.25 * lead / _rms(lead)
    for k, name in enumerate(design.accompaniment):  # heterophony: same line, own timbre, slightly late
        lag = int((0.02 + 0.015 * k) * sampling_rate)
        part = _render_melodic(name, notes, n, sampling_rate, design.tonic_hz, design.ornament, rng)
        part = np.concatenate([np.zeros(lag), part[:n - lag]])
        mix += 0.14 * part / _rms(part)
    for kit in design.percussion:
        drums = _render_percussion(kit, design, n, sampling_rate, rng)
        mix += (0.2 if kit == design.percussion[0] else 0.1) * drums / _rms(drums)
    if design.drone:
        drone = _render_drone(design, n, sampling_rate, rng)
        mix += 0.08 * drone / _rms(drone)
    mix += 1e-4 * rng.standard_normal(n)
    mix *= _envelope(n, sampling_rate, 0.01, 0.05)
    return (0.89 * mix / (np.max(np.abs(mix)) + 1e-9)).astype(np.float32)


def clip_rng(seed: int, tradition: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), TRADITIONS.index(tradition), SPLIT_INDEX[split],
                                                         int(index)]))


def split_designs(tradition: str, split: str, count: int, seed: int = 0) -> list:
    """The designs of one split: tag families drawn balanced within the split, reproducible by seed."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), TRADITIONS.index(tradition), SPLIT_INDEX[split],
                                                        10 ** 6]))
    return _designs(tradition, count, rng)


def generate_clip(tradition: str, split: str, index: int, design: ClipDesign, seed: int = 0,
                  clip_seconds: float = DEFAULT_CLIP_SECONDS, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    return render_clip(design, clip_seconds, sampling_rate, clip_rng(seed, tradition, split, index))


# ---------------------------------------------------------------------------------------------------------------
# Corpus writer
# ---------------------------------------------------------------------------------------------------------------


def _metadata_features():
    from datasets import List, Value

    return {"tradition": Value("string"), "scales": List(Value("string")), "tonic_hz": Value("float32"),
            "cycle": Value("string"), "cycle_pulses": Value("int32"), "pulse_rate": Value("float32"),
            "lead_instrument": Value("string"), "drone": Value("bool")}


def _make_example(item, tradition, seed, clip_seconds, sampling_rate, vocabulary):
    from .hub_layout import encode_audio, multi_hot

    split, index, design = item
    audio = generate_clip(tradition, split, index, design, seed, clip_seconds, sampling_rate)
    clip_id = f"{tradition}-{split}-{index:04d}"
    return {
        "id": clip_id,
        "audio": {"bytes": encode_audio(audio, sampling_rate, "flac"), "path": f"{clip_id}.flac"},
        "tags": list(design.tags),
        "labels": multi_hot(design.tags, vocabulary),
        "duration": float(len(audio) / sampling_rate),
        "tradition": tradition,
        "scales": list(design.scales),
        "tonic_hz": design.tonic_hz,
        "cycle": design.cycle or "",
        "cycle_pulses": len(CYCLES[design.cycle]) if design.cycle else 0,
        "pulse_rate": design.pulse_rate,
        "lead_instrument": design.lead,
        "drone": bool(design.drone),
    }


def _worker(item, **kwargs):
    return _make_example(item, **kwargs)


def _settings(tradition, seed, clips_per_split, clip_seconds, sampling_rate):
    return {"generator_version": GENERATOR_VERSION, "tradition": tradition, "seed": int(seed),
            "clips_per_split": dict(clips_per_split), "clip_seconds": float(clip_seconds),
            "sampling_rate": int(sampling_rate)}


def _card(tradition, vocabulary, settings):
    from .hub_layout import CardInfo
    from .metadata import SYNTHETIC_CITATION

    families = sorted({tag.split("--")[0] for tag in vocabulary if "--" in tag}) or ["genre", "instrument", "tempo"]
    description = (
        f"Synthetic **{tradition}** music generated offline by `hf_culturemert` (`culturemert synthesize`, seed "
        f"{settings['seed']}, {settings['clip_seconds']:g} s clips at {settings['sampling_rate']} Hz). Tag families "
        f"({', '.join(families)}) are audible by construction: scales and tunings (53-TET makams, just-intonation "
        "ragas), rhythmic cycles with their accent patterns, synthesised instrument timbres and drones. It is the "
        "offline stand-in for the real dataset in tests and in the miniature CultureMERT study; it says nothing "
        "about real recordings.")
    return CardInfo(pretty_name=f"CultureMERT synthetic corpus: {tradition}", description=description,
                    license="apache-2.0", citation=SYNTHETIC_CITATION, tags=("music", "synthetic", "music-tagging"),
                    extra_sections="## Generation settings\n\n```json\n" + json.dumps(settings, indent=1,
                                                                                     ensure_ascii=False) + "\n```\n")


def _remove_generated_files(folder):
    """Delete what a generator run writes into ``folder`` (by name); anything else in the folder stays."""
    from .hub_layout import BUILD_DIR, CARD_FILE, FAILURES_FILE, SPLITS, VOCABULARY_FILE

    for split in SPLITS:
        for shard in (folder / "data").glob(f"{split}-*-of-*.parquet"):
            shard.unlink()
    if (folder / BUILD_DIR).is_dir():
        shutil.rmtree(folder / BUILD_DIR)
    for name in (CARD_FILE, FAILURES_FILE, VOCABULARY_FILE, SETTINGS_FILE):
        (folder / name).unlink(missing_ok=True)


def build_tradition(output_dir, tradition: str, seed: int = 0, clips_per_split: Optional[dict] = None,
                    clip_seconds: Optional[float] = None, sampling_rate: int = SAMPLING_RATE,
                    num_proc: Optional[int] = None, progress: bool = True, executor=None, overwrite: bool = False) -> Path:
    """Write one tradition's folder (Hub layout). Complete folders with the same settings are left untouched.

    A folder written with other settings, or one the generator did not create (no ``synthetic.json``), is
    refused unless ``overwrite``; even then only the generator's own files (shards, card, vocabulary, build
    records) are replaced, never other files in the folder.
    """
    from .hub_layout import finalize, is_hub_folder, standard_features, write_split

    if tradition not in TRADITIONS:
        raise ValueError(f"Unknown synthetic tradition {tradition!r}; choose from {', '.join(TRADITIONS)}")
    clips_per_split = dict(clips_per_split or DEFAULT_CLIPS_PER_SPLIT)
    for split, count in clips_per_split.items():
        if split not in SPLIT_INDEX or int(count) < 1:
            raise ValueError(f"clips_per_split: invalid entry {split!r}: {count!r} (splits: train, validation, test; "
                             "counts >= 1)")
    clip_seconds = DEFAULT_CLIP_SECONDS if clip_seconds is None else float(clip_seconds)
    if not math.isfinite(clip_seconds) or clip_seconds < 1.0:
        raise ValueError(f"clip_seconds={clip_seconds:g} is too short; use at least 1 second (default "
                         f"{DEFAULT_CLIP_SECONDS:g})")
    if isinstance(sampling_rate, bool) or int(sampling_rate) != sampling_rate or not 8000 <= sampling_rate <= 192000:
        raise ValueError(f"sampling_rate={sampling_rate}: use a rate in Hz between 8000 and 192000 (MERT uses 24000)")
    folder = Path(output_dir) / tradition
    settings = _settings(tradition, seed, clips_per_split, clip_seconds, sampling_rate)
    settings_path = folder / SETTINGS_FILE
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder} is a file; choose another --output-dir")
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise OutputExistsError(f"{settings_path} is unreadable ({error}); pass --overwrite to regenerate "
                                    f"{folder} or choose another --output-dir") from error
        if previous != settings:
            from ..runstate import describe_changes

            changed = ", ".join(describe_changes(previous, settings, flags=False))
            if not overwrite:
                raise OutputExistsError(f"{folder} holds a corpus generated with other settings ({changed}); pass "
                                        "--overwrite to regenerate it (only the generator's own files are replaced) "
                                        "or choose another --output-dir")
            logger.warning("Regenerating %s (%s): replacing the files the generator wrote there; other files stay",
                           folder, changed)
            _remove_generated_files(folder)
        elif is_hub_folder(folder):
            logger.info("%s is complete; skipping", folder)
            return folder
    elif folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{folder} exists and was not written by `culturemert synthesize` (it has no "
                                    f"{SETTINGS_FILE}); choose another --output-dir, or pass --overwrite to "
                                    "generate into it (its parquet shards and card would be replaced)")
        logger.warning("Generating into %s, which `culturemert synthesize` did not create (--overwrite)", folder)
    ensure_writable_dir(folder, "--output-dir")
    settings_path.write_text(json.dumps(settings, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    vocabulary = tradition_vocabulary(tradition)
    features = standard_features(_metadata_features())
    kwargs = dict(tradition=tradition, seed=seed, clip_seconds=clip_seconds, sampling_rate=sampling_rate,
                  vocabulary=vocabulary)
    num_proc = num_proc if num_proc is not None else min(2, os.cpu_count() or 1)
    reports = []
    owned = executor is None and num_proc > 1
    executor = ProcessPoolExecutor(num_proc) if owned else executor
    try:
        for split, count in clips_per_split.items():
            designs = split_designs(tradition, split, int(count), seed)
            items = [(split, i, design) for i, design in enumerate(designs)]
            reports.append(write_split(folder, split, items, partial(_worker, **kwargs), features, rows_per_shard=512,
                                       item_id=lambda item: f"{tradition}-{item[0]}-{item[1]:04d}",
                                       progress=progress, executor=executor))
    finally:
        if owned:
            executor.shutdown()
    finalize(folder, _card(tradition, vocabulary, settings), features, vocabulary, reports)
    return folder


def build_synthetic_corpus(output_dir, seed: int = 0, clips_per_split: Optional[dict] = None,
                           clip_seconds: Optional[float] = None, traditions: Optional[Sequence[str]] = None,
                           sampling_rate: int = SAMPLING_RATE, num_proc: Optional[int] = None,
                           progress: bool = True, overwrite: bool = False) -> dict:
    """Build (or reuse) the synthetic corpus: one Hub-layout folder per tradition.

    Cheap to call repeatedly (complete folders are skipped), so tests and the end-to-end job can use it as a fixture.
    Deterministic: the same seed and settings give byte-identical shards.

    Args:
        output_dir: the corpus folder; each tradition gets a sub-folder.
        seed: the corpus seed.
        clips_per_split: an int (the same count for every split) or ``{"train": 48, "validation": 12, "test": 12}``.
        clip_seconds: clip length (default 8 s).
        traditions: a subset of ``western``, ``lyra``, ``makam``, ``hindustani``, ``carnatic`` (default all).
        sampling_rate: the rate of the stored audio.
        num_proc: processes that synthesise clips (default: at most 2).
        progress: show progress bars.
        overwrite: regenerate folders made with other settings (only the generator's own files are replaced);
            without it such a folder is refused, naming the settings that differ.

    Returns:
        ``{tradition: folder}``, each folder loadable with ``load_tradition(f"synthetic-{tradition}",
        repo_id=folder)`` or ``datasets.load_dataset(folder)``.

    Example:
        ```python
        folders = build_synthetic_corpus("data/synthetic", clips_per_split=16)
        ```
    """
    if isinstance(clips_per_split, int):
        clips_per_split = {split: clips_per_split for split in SPLIT_INDEX}
    traditions = list(traditions or TRADITIONS)
    unknown = [t for t in traditions if t not in TRADITIONS]
    if unknown:
        raise ValueError(f"Unknown synthetic tradition(s) {unknown}; choose from {', '.join(TRADITIONS)}")
    num_proc = num_proc if num_proc is not None else min(2, os.cpu_count() or 1)
    executor = ProcessPoolExecutor(num_proc) if num_proc > 1 else None  # one pool for all traditions
    try:
        return {t: build_tradition(output_dir, t, seed, clips_per_split, clip_seconds, sampling_rate, num_proc,
                                   progress, executor, overwrite=overwrite) for t in traditions}
    finally:
        if executor is not None:
            executor.shutdown()
