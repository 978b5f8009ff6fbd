"""Where every benchmark leaves its figures, so the docs' results pages are generated, never typed.

A benchmark calls :func:`save` once at the end of a run. It writes ``benchmarks/results/<name>.json`` (committed),
which ``docs/gen_results.py`` renders into ``docs/results/<name>.md``. Tables are plain rows of already-formatted
cells, so the page shows exactly what the benchmark printed.

    from _results import save
    save("forward", [{"title": "95M, 10 s clips", "columns": ["engine", "batch 1"], "rows": [["eager", "1.96"]]}],
         notes=["Audio-seconds per second, median of 5 alternating rounds."])
"""

import datetime
import json
import os
import platform
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """The machine a figure was measured on: CPU model and flags that matter for speed, cores, load, versions."""
    from hf_culturemert.backends import cpu_name

    cpu, flags = cpu_name(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import torch
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def _row(line: str) -> list:
    return [cell.strip().replace("\\|", "|") for cell in line.strip().strip("|").split(" | ")]


def tables_from_markdown(text: str) -> tuple:
    """``(tables, notes)`` from what a benchmark printed as Markdown, so its page shows exactly that.

    A ``#``-heading starts a table titled by it; the pipe table under it gives ``columns`` and ``rows``, and its other
    lines become the table's ``notes``. A heading with a bulleted list and no pipe table (say, acceptance checks)
    becomes a one-column table of the bullets. Lines before the first heading are the page's notes.
    """
    tables, notes, current, paragraph = [], [], None, []

    def flush():
        if paragraph:
            (current.setdefault("notes", []) if current is not None else notes).append(" ".join(paragraph))
            paragraph.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            flush()
            current = {"title": stripped.lstrip("#").strip(), "columns": [], "rows": []}
            tables.append(current)
        elif stripped.startswith("|") and current is not None:
            flush()
            if set(stripped) <= set("|-: "):  # the header's separator
                continue
            cells = _row(stripped)
            if not current["columns"]:
                current["columns"] = cells
            else:
                current["rows"].append(cells)
        elif stripped.startswith("- ") and current is not None and not current["columns"]:
            flush()
            current["rows"].append([stripped[2:]])
        elif stripped:
            paragraph.append(stripped)
        else:
            flush()
    flush()
    for table in tables:
        if not table["columns"]:
            table["columns"] = [table["title"]]
        if not table["rows"]:  # a heading over text only (the page's title): its text joins the page's notes
            notes.extend(table.get("notes", []))
    return [t for t in tables if t["rows"]], notes


def save(name: str, tables: list, *, notes=(), command: str = "", extra: dict = None, title: str = "") -> Path:
    """Write ``benchmarks/results/<name>.json``: the tables, notes, the command that made them, date and machine.

    ``title`` heads the results page (default: the name). Figures converted from an earlier record pass their own
    ``date``, ``machine`` and ``source`` in ``extra``; they replace this run's.
    """
    for table in tables:
        missing = {"title", "columns", "rows"} - set(table)
        if missing:
            raise ValueError(f"benchmark table {table.get('title', '?')!r} lacks {sorted(missing)}")
        for row in table["rows"]:
            if len(row) != len(table["columns"]):
                raise ValueError(f"table {table['title']!r}: row {row} has {len(row)} cells for "
                                 f"{len(table['columns'])} columns")
    payload = {"name": name, "date": datetime.date.today().isoformat(), "command": command,
               "machine": machine(), "tables": tables, "notes": list(notes), "extra": dict(extra or {})}
    if title:
        payload["title"] = title
    for key in ("source", "date", "machine"):  # a converted record keeps its own
        if key in payload["extra"]:
            payload[key] = payload["extra"].pop(key)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
