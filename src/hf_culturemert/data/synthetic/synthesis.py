"""Synthesis: a clip design to a waveform (melody, plucked, bowed and blown timbres, percussion, drone)."""

import dataclasses
import math

import numpy as np
from scipy import signal

from ...constants import SAMPLING_RATE
from .design import SPLIT_INDEX, ClipDesign
from .vocabulary import CYCLES, MELODIC, PERCUSSION, SCALES, TRADITIONS

DEFAULT_CLIP_SECONDS = 8.0


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


def generate_clip(tradition: str, split: str, index: int, design: ClipDesign, seed: int = 0,
                  clip_seconds: float = DEFAULT_CLIP_SECONDS, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    return render_clip(design, clip_seconds, sampling_rate, clip_rng(seed, tradition, split, index))
