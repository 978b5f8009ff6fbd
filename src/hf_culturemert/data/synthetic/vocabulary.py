"""The synthetic corpus's vocabulary: scales, rhythmic cycles, instruments and each tradition's tag families."""

import numpy as np

from ...constants import SYNTHETIC_TRADITIONS

TRADITIONS = SYNTHETIC_TRADITIONS

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
    from ..metadata import real_vocabularies

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
