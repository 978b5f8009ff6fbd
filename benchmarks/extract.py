"""Feature-extraction throughput of the probing pipeline (seconds of audio per second, decoding included).

MERT-v1-95M architecture (the published config, random weights), audio files written by the benchmark and decoded
with torchcodec in DataLoader workers, windows of all tracks packed into batches, every hidden state mean-pooled
per window (exactly what ``culturemert probe`` / ``evaluate`` run on a cache miss). Rows:

* decode only: the DataLoader alone (the ceiling the model can reach);
* model only: forward + pooling on pre-decoded windows;
* end to end: ``hf_culturemert.probing.features.extract_split_features``;
* reference: ``hf_culturemert.features.extract_features`` called per track (one track per forward), the simple loop
  a user would write; the ratio column compares against it.

CPU runs fp32; with CUDA a bf16 run follows (target on an H100: >= 5,000x real time end to end).

    python benchmarks/extract.py --quick          # ~1 minute on CPU
    python benchmarks/extract.py --files 512 --gpu-batch-size 32 --num-workers 12
    python benchmarks/extract.py --memory 10 30 60   # peak RSS of `culturemert embed` on 10/30/60-minute files

``--engines`` runs ``culturemert embed`` (decode + windows + every hidden state, batch 8 of 5 s windows) on a real
recording of ``--minutes`` (default 20): Debian's asc-music (3 MP3s, 17.6 min) followed by as many
wesnoth-1.16-music tracks (Vorbis, 128 min) as it takes, decoded and joined by ffmpeg into one MP3, once per CPU
inference engine (``hf_culturemert.backends``: torch, fused, onnxruntime, openvino), in alternating rounds; prints the CPU and
the load average, the default engine (``auto``), each engine's x real time and its features' max abs difference from
torch; saves ``benchmarks/results/extract.json``:

    python benchmarks/extract.py --engines --minutes 20 --rounds 1

``--memory`` runs ``culturemert embed`` (decode + windows + features; the tiny random model, so that the model's
own memory does not hide the pipeline's) in a fresh process per file length and reports its peak RSS against the
size of the decoded audio (float32 mono at 24 kHz): the growth with length must stay within the decoded audio.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CONFIG_CANDIDATES = [REPO / "src" / "hf_culturemert" / "resources" / "configs" / "MERT-v1-95M.config.json",
                     REPO.parent / "shared" / "reference" / "mert" / "MERT-v1-95M.config.json"]


def load_config():
    from hf_culturemert import MERTConfig

    for path in CONFIG_CANDIDATES:
        if path.is_file():
            with open(path) as handle:
                return MERTConfig(**json.load(handle)), path
    raise FileNotFoundError(f"MERT-v1-95M config not found at any of {[str(p) for p in CONFIG_CANDIDATES]}")


def write_audio(folder, files, seconds, rate, audio_format, distinct=4):
    """``files`` files of ``seconds`` (``distinct`` different signals, copied): sines + noise, 24 kHz mono."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    sources = []
    for i in range(min(distinct, files)):
        wave = 0.2 * np.sin(2 * np.pi * (110 * (i + 1)) * t) + 0.05 * rng.standard_normal(t.shape)
        path = folder / f"source{i}.{audio_format}"
        sf.write(path, wave.astype(np.float32), rate, format=audio_format.upper())
        sources.append(path)
    paths = []
    for i in range(files):
        path = folder / f"clip{i:05d}.{audio_format}"
        shutil.copyfile(sources[i % len(sources)], path)
        paths.append(str(path))
    return paths


def make_dataset(paths):
    import datasets

    table = datasets.Dataset.from_dict({"id": [Path(p).stem for p in paths], "audio": paths,
                                        "labels": [[0.0, 1.0]] * len(paths)})
    return table.cast_column("audio", datasets.Audio(decode=False))


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_device(model, paths, audio_seconds, device, dtype, batch_size, num_workers, window_seconds, reference_files):
    from hf_culturemert.audio import load_audio
    from hf_culturemert.features import extract_features
    from hf_culturemert.probing import ProbeArguments
    from hf_culturemert.probing.features import _collate_tracks, _forward_windows, _TrackWindows, extract_split_features

    model = model.to(device=device, dtype=dtype).eval()
    ds = make_dataset(paths)
    args = ProbeArguments(window_seconds=window_seconds, extraction_batch_size=batch_size, num_workers=num_workers,
                          progress=False)
    rate = model.config.sample_rate
    window = int(window_seconds * rate)
    rows = []

    # warm-up (kernels, allocator, decoder import)
    warm = [torch.from_numpy(load_audio(paths[0]))[:window]] * min(batch_size, 2)
    _forward_windows(model, warm, True, device, dtype)
    synchronize(device)

    begin = time.perf_counter()
    loader = torch.utils.data.DataLoader(_TrackWindows(ds, rate, window, window, window // 2, "labels"), batch_size=1,
                                         collate_fn=_collate_tracks, num_workers=num_workers)
    windows = [w for items in loader for _, _, track_windows, _ in items for w in track_windows]
    rows.append(("decode only", time.perf_counter() - begin, audio_seconds))

    begin = time.perf_counter()
    for start in range(0, len(windows), batch_size):
        _forward_windows(model, windows[start:start + batch_size], True, device, dtype)
    synchronize(device)
    rows.append(("model only", time.perf_counter() - begin, audio_seconds))

    begin = time.perf_counter()
    columns = extract_split_features(model, ds, args, device, dtype)
    synchronize(device)
    rows.append(("end to end", time.perf_counter() - begin, audio_seconds))
    assert columns["features"].shape[1] == model.config.num_hidden_layers + 1

    subset = paths[:reference_files]
    begin = time.perf_counter()
    for path in subset:
        extract_features(model, load_audio(path), rate, window_seconds=window_seconds, batch_size=batch_size)
    synchronize(device)
    rows.append(("reference (per track)", time.perf_counter() - begin, audio_seconds * len(subset) / len(paths)))
    return rows


def print_table(title, rows):
    reference = rows[-1][2] / rows[-1][1]
    print(f"\n{title}")
    print("| stage | audio (s) | wall (s) | x real time | vs reference |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, audio in rows:
        speed = audio / wall
        print(f"| {name} | {audio:.0f} | {wall:.2f} | {speed:,.1f} | {speed / reference:.2f}x |")


_MEMORY_CHILD = r"""
import resource, sys
from hf_culturemert.commands.embed import EmbedArguments, embed_files
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
args = EmbedArguments(audio=[sys.argv[1]], model="tiny-random", window_seconds=5.0, batch_size=8, device="cpu")
for _, features in embed_files(args):
    windows = len(features.window_starts)
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, windows)
"""


def write_long_wav(path, minutes, rate=24000):
    """A ``minutes``-long 16-bit mono wav written block by block (the benchmark itself never holds it)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    block = rate * 60
    t = np.arange(block) / rate
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as handle:
        for _ in range(int(minutes)):
            handle.write((0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(block)).astype(np.float32))
    return path


def run_memory(minutes_list, audio_format="wav"):
    """Peak RSS of `culturemert embed` per file length (fresh process each); prints a markdown table."""
    import subprocess

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in minutes_list:
            path = write_long_wav(Path(tmp) / f"long_{minutes:g}min.wav", minutes)
            if audio_format != "wav":
                encoded = path.with_suffix(f".{audio_format}")
                subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(path), str(encoded)], check=True)
                path.unlink()
                path = encoded
            env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
            done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path)], capture_output=True, text=True,
                                  env=env, check=True)
            before_kib, peak_kib, windows = map(int, done.stdout.split()[-3:])
            decoded_mib = minutes * 60 * 24000 * 4 / 2 ** 20
            rows.append((minutes, windows, before_kib / 1024, peak_kib / 1024, decoded_mib))
            path.unlink()
    print(f"\n{audio_format} files")
    print("\n| file | windows | RSS after imports (MiB) | peak RSS (MiB) | growth (MiB) | decoded audio (MiB) | "
          "growth / decoded |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for minutes, windows, before, peak, decoded in rows:
        print(f"| {minutes:g} min | {windows} | {before:.0f} | {peak:.0f} | {peak - before:.0f} | {decoded:.0f} | "
              f"{(peak - before) / decoded:.2f} |")
    if len(rows) > 1:
        (m0, _, b0, p0, _), (m1, _, b1, p1, _) = rows[0], rows[-1]
        slope = ((p1 - b1) - (p0 - b0)) / ((m1 - m0) * 60 * 24000 * 4 / 2 ** 20)
        print(f"\nmarginal growth: {slope:.2f} MiB of peak RSS per MiB of decoded audio ({m0:g} -> {m1:g} min)")
    return rows


REAL_MUSIC = ("asc-music", "wesnoth-1.16-music")  # Debian packages, in this order: 17.6 + 128 min


def real_recording(folder, minutes):
    """One MP3 of ``minutes`` of real music: the tracks of :data:`REAL_MUSIC` in order (fetched once with apt-get,
    cached like the rehearsals' recordings), as many as it takes, decoded, joined and cut by ffmpeg (44.1 kHz
    stereo, 192 kb/s, as a user's recording would be). Returns the path and the tracks used."""
    import subprocess

    from hf_culturemert.rehearsal.sources import _duration, debian_recordings

    tracks, total = [], 0.0
    for package in REAL_MUSIC:
        for track in debian_recordings([package]):
            if total >= minutes * 60:
                break
            tracks.append(track)
            total += _duration(track)
    if total < minutes * 60 - 1:
        raise ValueError(f"--minutes {minutes:g}: the real music available ({', '.join(REAL_MUSIC)}) lasts only "
                         f"{total / 60:.1f} min")
    inputs = [arg for track in tracks for arg in ("-i", str(track))]
    streams = "".join(f"[{i}:a]aformat=sample_rates=44100:channel_layouts=stereo[a{i}];" for i in range(len(tracks)))
    joined = "".join(f"[a{i}]" for i in range(len(tracks))) + f"concat=n={len(tracks)}:v=0:a=1[out]"
    path = Path(folder) / "real-music.mp3"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *inputs, "-filter_complex", streams + joined, "-map", "[out]",
                    "-t", str(minutes * 60), "-c:a", "libmp3lame", "-b:a", "192k", str(path)], check=True)
    return path, [track.name for track in tracks]


def run_engines(minutes, rounds, batch_size):
    """``embed`` (decode + extract) on a real recording per engine, alternating; returns the printed table."""
    import subprocess

    sys.path.insert(0, str(REPO / "benchmarks"))
    from _results import machine, save

    from hf_culturemert import MERTModel
    from hf_culturemert.backends import for_inference, installed_backends, measured_choice, resolve_backend
    from hf_culturemert.commands.embed import EmbedArguments, embed_files

    config, _ = load_config()
    torch.manual_seed(0)
    model = MERTModel(config).eval()
    info = machine()
    print(f"CPU {info['cpu']} ({info['cores']} cores, {', '.join(info['isa'])}), {torch.get_num_threads()} threads, "
          f"load average {info.get('load_average')}", flush=True)
    measured = measured_choice(model)  # what `auto` picks here: timed now, or cached from an earlier run
    default = resolve_backend("auto", model)
    timing = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in sorted(measured["seconds"].items(),
                                                                             key=lambda kv: kv[1]))
    print(f"default engine (auto): {default}; its measurement ({measured.get('measured', 'cached')}): {timing}",
          flush=True)
    engines = {name: for_inference(model, name) for name in ("torch", "fused", "onnxruntime", "openvino")
               if name in installed_backends()}
    with tempfile.TemporaryDirectory() as tmp:
        path, tracks = real_recording(tmp, minutes)
        print(f"recording: {minutes:g} min of {', '.join(tracks)} ({' + '.join(REAL_MUSIC)}), joined into one MP3",
              flush=True)
        warm = Path(tmp) / "warm-up.mp3"  # untimed first call per engine (decoder, allocator, runtime plans)
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(path), "-t", "10", "-c", "copy", str(warm)],
                       check=True)
        for engine in engines.values():
            list(embed_files(EmbedArguments(audio=[str(warm)], window_seconds=5.0, batch_size=batch_size,
                                            device="cpu"), model=engine))
        times = {name: [] for name in engines}
        features = {}
        for round_ in range(rounds):
            names = list(engines)
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                args = EmbedArguments(audio=[str(path)], window_seconds=5.0, batch_size=batch_size, device="cpu")
                begin = time.perf_counter()
                ((_, features[name]),) = list(embed_files(args, model=engines[name]))
                times[name].append(time.perf_counter() - begin)
                print(f"round {round_ + 1}: {name} {times[name][-1]:.1f} s", flush=True)
    audio = features["torch"].window_ends[-1]
    after = [round(v, 2) for v in os.getloadavg()]
    rows = []
    for name in engines:
        wall = float(np.median(times[name]))
        diff = max(float((features[name].window_features - features["torch"].window_features).abs().max()),
                   float((features[name].pooled - features["torch"].pooled).abs().max()))
        rows.append([name + (" (auto)" if name == default else ""), f"{wall:.1f}", f"{audio / wall:.2f}",
                     f"{np.median(times['torch']) / wall:.2f}x", f"{diff:.1e}"])
    columns = ["engine", "wall (s)", "x real time", "vs torch", "max abs diff vs torch"]
    print(f"\n`embed` on {audio / 60:.1f} min of real music (one MP3, decode included), batch {batch_size}")
    print("| " + " | ".join(columns) + " |\n|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    fastest = min(engines, key=lambda name: np.median(times[name]))
    print(f"load average after: {after}; fastest: {fastest}; default: {default}")
    save("extract", [{"title": f"`culturemert embed` per engine on {audio / 60:.1f} min of real music, {info['cpu']}",
                      "columns": columns, "rows": rows}],
         notes=[f"Decode + 5 s windows + every hidden state, batch {batch_size}, MERT-95M random weights, float32, "
                f"{torch.get_num_threads()} threads; median of {rounds} alternating round(s).",
                f"The recording: Debian's {' and '.join(REAL_MUSIC)} tracks {', '.join(tracks)}, decoded and joined "
                f"by ffmpeg into one 192 kb/s MP3, cut to {minutes:g} min.",
                f"CPU {info['cpu']}, {info['cores']} cores, ISA {', '.join(info['isa']) or 'none of those listed'}.",
                f"Load average before {info.get('load_average')}, after {after} (a shared machine).",
                f"The default engine (auto) here is {default}, chosen by `auto`'s measurement on this machine "
                f"(seconds per batch of 8 x 5 s windows, best of 2 alternating rounds: {timing}); the fastest in "
                f"this run was {fastest}."],
         command=f"python benchmarks/extract.py --engines --minutes {minutes:g} --rounds {rounds}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small CPU run (~1 minute)")
    parser.add_argument("--files", type=int, default=None, help="audio files (default 16 CPU / 512 GPU; quick 3)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each file (quick: 10)")
    parser.add_argument("--window-seconds", type=float, default=30.0, help="probing window (quick: 10)")
    parser.add_argument("--format", default="wav", choices=["wav", "flac", "mp3"],
                        help="audio file format (mp3: --memory only)")
    parser.add_argument("--cpu-batch-size", type=int, default=4)
    parser.add_argument("--gpu-batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=None, help="decoding workers (default: CPUs - 1, max 12)")
    parser.add_argument("--reference-files", type=int, default=None, help="files for the per-track reference")
    parser.add_argument("--skip-cpu", action="store_true", help="only the GPU run")
    parser.add_argument("--memory", type=float, nargs="+", default=None, metavar="MINUTES",
                        help="instead: peak RSS of `culturemert embed` on files of these lengths (e.g. 10 30 60)")
    parser.add_argument("--engines", action="store_true",
                        help="instead: `embed` on a real recording per CPU inference engine (see above)")
    parser.add_argument("--minutes", type=float, default=20.0, help="--engines: minutes of the recording (up to ~145)")
    parser.add_argument("--rounds", type=int, default=1, help="--engines: alternating rounds")
    options = parser.parse_args(argv)
    if options.engines:
        run_engines(options.minutes, options.rounds, batch_size=8)  # embed's default batch
        return 0
    if options.memory:
        run_memory(options.memory, options.format if options.format != "wav" else "wav")
        return 0
    if options.quick:
        options.seconds = min(options.seconds, 10.0)
        options.window_seconds = min(options.window_seconds, 10.0)

    from hf_culturemert import MERTModel

    config, config_path = load_config()
    torch.manual_seed(0)
    model = MERTModel(config).eval()
    workers = options.num_workers if options.num_workers is not None else max(0, min(12, (os.cpu_count() or 1) - 1))
    print(f"MERT-v1-95M architecture from {config_path} (random weights, {sum(p.numel() for p in model.parameters()):,}"
          f" parameters); torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
          f"decoding workers {workers}, {options.format} files of {options.seconds:g} s, window "
          f"{options.window_seconds:g} s")
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        if not options.skip_cpu:
            files = options.files or (3 if options.quick else 16)
            paths = write_audio(Path(tmp) / "cpu", files, options.seconds, config.sample_rate, options.format)
            rows = run_device(model, paths, files * options.seconds, torch.device("cpu"), torch.float32,
                              options.cpu_batch_size, min(workers, 1) if options.quick else workers,
                              options.window_seconds, options.reference_files or (1 if options.quick else 4))
            runs.append(("CPU fp32", rows))
            print_table("CPU fp32", rows)
        if torch.cuda.is_available():
            files = options.files or 512
            paths = write_audio(Path(tmp) / "gpu", files, options.seconds, config.sample_rate, options.format)
            rows = run_device(model, paths, files * options.seconds, torch.device("cuda"), torch.bfloat16,
                              options.gpu_batch_size, workers, options.window_seconds,
                              options.reference_files or 32)
            name = f"GPU bf16 ({torch.cuda.get_device_name()})"
            runs.append((name, rows))
            print_table(name, rows)
            end_to_end = rows[2][2] / rows[2][1]
            print(f"\nend to end on GPU: {end_to_end:,.0f}x real time (target >= 5,000x on an H100: "
                  f"{'met' if end_to_end >= 5000 else 'NOT met'})")
        else:
            print("\nCUDA not available: GPU bf16 run skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
