"""Render the results pages from the benchmarks' JSON, so no figure in the docs is typed by hand.

Every ``benchmarks/results/<name>.json`` (written by ``benchmarks/_results.py``'s ``save``) becomes
``results/<name>.md``, and ``results/index.md`` lists them all. mkdocs runs this file as a hook
(``hooks:`` in ``mkdocs.yml``): the pages are generated in memory at every build, never committed.
Run it as a script to write the pages to a folder and read them:

    python docs/gen_results.py --output /tmp/results

The README shows a few of these tables too, between ``<!-- results:NAME -->`` and ``<!-- /results -->`` markers
(:data:`README_BLOCKS`); the same rendering fills them, and ``tests/test_docs.py`` fails when they are stale:

    python docs/gen_results.py --readme      # rewrite the README's result blocks from the JSON
"""

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = ROOT / "benchmarks" / "results"
PAGE_DIR = "results"
README = ROOT / "README.md"
# README block -> (benchmark JSON name, start of the title of the table it shows, the command that measures it)
README_BLOCKS = {
    "extract-engines": ("extract", "`culturemert embed` per engine", "python benchmarks/extract.py --engines"),
    "real-makam": ("reproduce", "Real makam recognition", "python benchmarks/reproduce.py"),
}
_BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def _cell(value) -> str:
    """A table cell: pipes escaped and line breaks flattened, so any string stays inside its cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _machine(machine: dict) -> str:
    parts = [machine.get("cpu") or "unknown CPU"]
    if machine.get("cores"):
        parts.append(f"{machine['cores']} cores")
    if machine.get("gpu"):
        parts.append(machine["gpu"])
    if machine.get("load_average"):
        parts.append("load average " + " / ".join(str(x) for x in machine["load_average"]))
    if machine.get("torch"):
        parts.append(f"torch {machine['torch']}")
    return ", ".join(parts)


def render_page(payload: dict) -> str:
    """One benchmark's page: where and how it was measured, its notes, then its tables as printed.

    Args:
        payload: the object ``save`` wrote (``name``, ``date``, ``command``, ``machine``, ``tables``, ``notes``,
            ``extra``; optional ``title``, ``description`` and ``source``).

    Returns:
        The page's Markdown.
    """
    name = payload["name"]
    lines = [f"# {payload.get('title') or name}", ""]
    if payload.get("description"):
        lines += [payload["description"], ""]
    lines.append(f"Generated from `benchmarks/results/{name}.json`; do not edit this page, rerun the benchmark.")
    lines.append("")
    facts = [f"- **Measured:** {payload.get('date', 'unknown date')}, on {_machine(payload.get('machine') or {})}"]
    if payload.get("command"):
        facts.append(f"- **Command:** `{payload['command']}`")
    if payload.get("source"):
        facts.append(f"- **Source:** {payload['source']}")
    lines += facts + [""]
    for note in payload.get("notes") or ():
        lines += [note, ""]
    for table in payload.get("tables") or ():
        lines += [f"## {table['title']}", ""]
        if table.get("caption"):
            lines += [table["caption"], ""]
        lines += _table_lines(table) + [""]
        for note in table.get("notes") or ():
            lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def _table_lines(table: dict) -> list:
    """A table's Markdown rows: header, rule, one line per row."""
    return ["| " + " | ".join(_cell(c) for c in table["columns"]) + " |", "|" + "---|" * len(table["columns"]),
            *("| " + " | ".join(_cell(c) for c in row) + " |" for row in table["rows"])]


def render_readme_block(name: str, payloads: list) -> str:
    """The README's block ``name`` (:data:`README_BLOCKS`): its table as the results page shows it, or a link.

    Args:
        name: a key of :data:`README_BLOCKS`.
        payloads: what :func:`load_results` returns.

    Returns:
        Markdown ending with a newline: the table's title, the table, and where and when it was measured; when the
        JSON or the table is missing, one line naming the benchmark that writes it.
    """
    source, title_start, command = README_BLOCKS[name]
    payload = next((p for p in payloads if p["name"] == source), None)
    table = next((t for t in (payload or {}).get("tables") or () if t["title"].startswith(title_start)), None)
    link = f"[`benchmarks/results/{source}.json`](benchmarks/results/{source}.json)"
    if table is None:
        return f"*{title_start}*: not measured yet;\n`{command}` writes it to {link}.\n"
    return "\n".join([f"**{table['title']}**", "", *_table_lines(table), "",
                      f"Measured {payload.get('date', 'on an unknown date')} on "
                      f"{_cell(_machine(payload.get('machine') or {}))};", f"from {link} (`{command}`).", ""])


def update_readme(text: str, payloads: list) -> str:
    """``text`` with every ``<!-- results:NAME -->`` block re-rendered; an unknown NAME raises naming it."""
    def fill(match):
        if match["name"] not in README_BLOCKS:
            raise ValueError(f"README block <!-- results:{match['name']} -->: no such block; use one of "
                             f"{', '.join(README_BLOCKS)} (docs/gen_results.py README_BLOCKS)")
        return match.group(1) + render_readme_block(match["name"], payloads) + match.group(4)

    return _BLOCK.sub(fill, text)


def render_index(payloads: list) -> str:
    """The results index: one row per benchmark, with its date, machine and command."""
    lines = ["# Results", "",
             "Every page here is generated at build time from a benchmark's JSON in `benchmarks/results/`. "
             "A benchmark writes its JSON with `benchmarks/_results.py`; rerunning it updates its page.", ""]
    if not payloads:
        return "\n".join(lines + ["No benchmark has saved results yet.", ""])
    lines += ["| results | measured | machine | command |", "|---|---|---|---|"]
    for payload in payloads:
        title = payload.get("title") or payload["name"]
        lines.append(f"| [{_cell(title)}]({payload['name']}.md) | {payload.get('date', '')} | "
                     f"{_cell(_machine(payload.get('machine') or {}))} | `{_cell(payload.get('command', ''))}` |")
    return "\n".join(lines) + "\n"


def load_results(results_dir: Path = RESULTS_JSON) -> list:
    """Every benchmark's payload, sorted by name; a file that is not valid JSON raises naming it."""
    payloads = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error}); rerun the benchmark that writes it") from error
        payload.setdefault("name", path.stem)
        payloads.append(payload)
    return payloads


def render_all(results_dir: Path = RESULTS_JSON) -> dict:
    """``{relative page path: markdown}`` for the index and every benchmark's page."""
    payloads = load_results(results_dir)
    pages = {f"{PAGE_DIR}/index.md": render_index(payloads)}
    for payload in payloads:
        pages[f"{PAGE_DIR}/{payload['name']}.md"] = render_page(payload)
    return pages


def on_config(config):
    """mkdocs hook: list every results page under the nav's "Results" entry (``results/index.md``)."""
    pages = [{payload.get("title") or payload["name"]: f"{PAGE_DIR}/{payload['name']}.md"}
             for payload in load_results()]

    def expand(items):
        for i, item in enumerate(items or ()):
            if isinstance(item, dict):
                for key, value in item.items():
                    if value == f"{PAGE_DIR}/index.md":
                        item[key] = [f"{PAGE_DIR}/index.md", *pages]
                    elif isinstance(value, list):
                        expand(value)

    expand(config["nav"])
    return config


def on_files(files, config):
    """mkdocs hook: add the generated results pages to the site (in memory; nothing is written to docs/)."""
    from mkdocs.structure.files import File

    for src_uri, content in render_all().items():
        existing = files.get_file_from_path(src_uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, src_uri, content=content))
    return files


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", type=Path, help="folder to write results/*.md into")
    target.add_argument("--readme", action="store_true", help="rewrite the README's result blocks in place")
    parser.add_argument("--results", type=Path, default=RESULTS_JSON, help="folder of benchmark JSON files")
    args = parser.parse_args(argv)
    if args.readme:
        README.write_text(update_readme(README.read_text(encoding="utf-8"), load_results(args.results)),
                          encoding="utf-8")
        return
    for rel, content in render_all(args.results).items():
        path = args.output / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


if __name__ == "__main__":
    main()
