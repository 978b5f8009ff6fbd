"""Clip designs: what each clip of a split plays, drawn balanced per tag family; its tags follow from it alone."""

import dataclasses
from typing import Optional

import numpy as np

from .vocabulary import (CARNATIC_FORMS, CARNATIC_PERCUSSION, CARNATIC_RAGAS, CARNATIC_TALAS, HINDUSTANI_FORMS,
                         HINDUSTANI_LEADS, HINDUSTANI_RAGAS, HINDUSTANI_TALAS, LYRA_GENRES, LYRA_INSTRUMENT,
                         MAKAM_LEADS, MAKAM_PERCUSSION, MAKAMS, TRADITIONS, USULS, WESTERN_FEATURED, WESTERN_GENRES,
                         WESTERN_TAG)

SPLIT_INDEX = {"train": 0, "validation": 1, "test": 2}


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


def split_designs(tradition: str, split: str, count: int, seed: int = 0) -> list:
    """The designs of one split: tag families drawn balanced within the split, reproducible by seed."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), TRADITIONS.index(tradition), SPLIT_INDEX[split],
                                                        10 ** 6]))
    return _designs(tradition, count, rng)
