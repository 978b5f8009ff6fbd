"""Run state of the resumable pipelines (``reproduce``, ``transfer``; the settings check of ``pretrain`` and
``synthesize``): one place for "which stages finished", "were they made with these settings" and "which files are
ours".

* :class:`RunFolder` checks an output folder before any compute: a folder some other program (or the user) filled
  is refused unless ``--overwrite``; a symlink leading out of it is refused always; a rerun whose settings differ
  from the stored ones (``arguments.json``) is refused, naming each setting that differs.
* :class:`StageLog` (``stages.json``) records each finished stage; a rerun skips them. Every file and folder a stage
  creates is added to the folder's ownership manifest (:class:`~hf_culturemert.outputs.OutputManifest`), so that
  ``--overwrite`` (restart) deletes exactly what earlier runs wrote and nothing of the user's.
* :func:`where_stopped` names the stage a run was in when Ctrl-C or a full disk stopped it (the CLI's one line).

Imports nothing heavy: the CLI reads :func:`where_stopped` while handling an interruption.
"""

import json
import logging
import os
import time
from pathlib import Path

from .outputs import MANIFEST_FILE, OutputExistsError, OutputManifest, atomic_write_text

logger = logging.getLogger(__name__)

SETTINGS_FILE = "arguments.json"
STAGES_FILE = "stages.json"
SUMMARY_FILE = "summary.json"

_STOPPED = {}  # the active run: folder, stage label, stages finished (read by where_stopped)


class SettingsChangedError(ValueError):
    """A rerun with other settings than the ones its finished stages were made with (one-line CLI error)."""


def describe_changes(before: dict, now: dict, ignore=(), flags=True):
    """``["--seed 0 -> 5", ...]`` for every key of both dicts whose value differs (``key: 0 -> 5`` without
    ``flags``); keys in ``ignore`` change nothing that is stored."""
    form = "--{key} {old} -> {new}" if flags else "{key}: {old!r} -> {new!r}"
    return [form.format(key=key, old=before[key], new=value) for key, value in now.items()
            if key in before and before[key] != value and key not in ignore]


def refuse_changed_settings(before: dict, now: dict, where, remedy, ignore=(), flags=True, what="a run"):
    """Raise :class:`SettingsChangedError` naming what differs between ``before`` and ``now`` (JSON-normalised)."""
    now = json.loads(json.dumps(now, default=str))
    changed = describe_changes(before, now, ignore, flags)
    if changed:
        raise SettingsChangedError(f"{where} holds {what} with other settings ({'; '.join(changed)}); {remedy}")


def where_stopped():
    """``"during stage [3/9] 'merge' of DIR"`` for the run in progress in this process, or "" when none is."""
    if not _STOPPED:
        return ""
    stage = _STOPPED.get("stage")
    where = f" of {_STOPPED['folder']}" if _STOPPED.get("folder") else ""
    if stage:
        return f" during stage {stage}{where}"
    return f" after {_STOPPED.get('finished', 0)} finished stage(s){where}"


def reset_where_stopped():
    _STOPPED.clear()


def _tree(folder):
    """Relative paths of the files and folders below ``folder`` (symlinks are never followed nor listed)."""
    folder = Path(folder)
    found = set()
    if not folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
        for name in dirs + [f for f in files if not (Path(root) / f).is_symlink()]:
            rel = (base / name).as_posix()
            if rel != MANIFEST_FILE:
                found.add(rel)
    return found


class StageLog:
    """``stages.json``: which stages finished, with their outputs and timings (a pipeline's resume point).

    ``writer``: whether this process writes the log and the manifest (the main process under ``accelerate
    launch``); ``after_record``: called after each stage on every process (a barrier). ``manifest``: the run
    folder's ownership manifest; what each stage creates is added to it, even when the stage is interrupted.
    """

    def __init__(self, path, total=None, writer=True, after_record=None, manifest=None):
        self.path = Path(path)
        self.stages = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.total, self.count = total, 0
        self.writer, self.after_record, self.manifest = writer, after_record, manifest
        _STOPPED.update(folder=str(self.path.parent), stage=None, finished=0)

    def done(self, name, key=None):
        entry = self.stages.get(name)
        if not entry or entry.get("key") != key:
            return False
        return all(Path(p).exists() for p in entry.get("paths", []))

    def get(self, name):
        return self.stages[name]["result"]

    def record(self, name, result, paths, seconds, key=None):
        self.stages[name] = {"result": result, "paths": [str(p) for p in paths], "seconds": round(seconds, 1)}
        if key is not None:
            self.stages[name]["key"] = key
        if self.writer:  # atomic: an interruption never leaves a half-written log
            atomic_write_text(self.path, json.dumps(self.stages, indent=2, default=str))

    def run(self, name, function, paths_of=lambda result: [], key=None):
        """``function()``'s result, or the recorded one when ``name`` finished with the same ``key`` (a digest of
        what the stage depends on beyond the run's settings: the models and datasets a report covers)."""
        self.count += 1
        label = f"[{self.count}/{self.total or '?'}] {name}"
        if self.done(name, key):
            logger.info("%s: already done (skipped)", label)
            return self.get(name)
        logger.info("%s: starting", label)
        _STOPPED.update(stage=f"{label!r}")
        before = _tree(self.manifest.folder) if self.manifest is not None and self.writer else None
        start = time.perf_counter()
        try:
            result = function()
        finally:
            if before is not None:  # what the stage created is ours, finished or not
                self.manifest.record(_tree(self.manifest.folder) - before)
        seconds = time.perf_counter() - start
        self.record(name, result, paths_of(result), seconds, key)
        if self.after_record is not None:
            self.after_record()
        _STOPPED.update(stage=None, finished=self.count)
        logger.info("%s: done in %.1f s", label, seconds)
        return result


def _manifest_temp(name):
    """A temporary file of an atomic manifest save (``.<manifest>.<random>.tmp-<pid>``)."""
    return name.startswith(f".{MANIFEST_FILE}.") and ".tmp-" in name


class RunFolder:
    """The output folder of a resumable pipeline, checked before any compute (see the module docstring).

    ``names``: the top-level files and folders the pipeline writes; ``settings``: what defines its results
    (stored in ``arguments.json``); ``free``: settings a rerun may change (they change no finished stage).
    ``--overwrite`` allows a folder the pipeline did not create and restarts the run: the files earlier runs
    wrote (the manifest) are deleted first, nothing else.
    """

    def __init__(self, folder, command, settings, names, overwrite=False, free=(), writer=True, flag="--output_dir"):
        self.folder, self.command, self.overwrite = Path(folder), command, bool(overwrite)
        self.settings = json.loads(json.dumps(settings, default=str))
        self.names = sorted(set(names) | {SETTINGS_FILE, STAGES_FILE, SUMMARY_FILE})
        self.writer, self.flag = writer, flag
        self.manifest = OutputManifest(self.folder, command, overwrite=overwrite)
        self.restart = self.ours = False
        if writer:
            self._check(free)

    def _check(self, free):
        folder, manifest = self.folder, self.manifest
        ours = manifest.created_by == f"culturemert {self.command}" and manifest.entries
        # the manifest, and a manifest save in flight (another process of the same `accelerate launch` run)
        present = [p for p in folder.iterdir() if p.name != MANIFEST_FILE and not _manifest_temp(p.name)] \
            if folder.is_dir() else []
        if present and not ours and not self.overwrite:
            raise OutputExistsError(
                f"{folder} exists and was not created by `culturemert {self.command}` (it holds "
                f"{', '.join(sorted(p.name for p in present)[:3])}{' ...' if len(present) > 3 else ''} and no "
                f"{MANIFEST_FILE} of it); choose another {self.flag}, or pass --overwrite to write into it (files "
                "that are not the run's are kept)")
        files = (SETTINGS_FILE, STAGES_FILE, SUMMARY_FILE)
        for name in self.names:  # a symlink out of the folder: refused even with --overwrite
            manifest.guard(name, into=name not in files)
        if ours:  # a user's file placed where the run keeps its own
            manifest.check([SETTINGS_FILE, STAGES_FILE, SUMMARY_FILE])
        self.ours = bool(ours)
        stored = folder / SETTINGS_FILE
        if ours and manifest.owns(SETTINGS_FILE) and manifest.owns(STAGES_FILE) and stored.is_file() and (
                folder / STAGES_FILE).is_file():
            try:
                before = json.loads(stored.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise OutputExistsError(f"{stored} is unreadable ({error}); choose another {self.flag}, or pass "
                                        "--overwrite to restart the run there") from error
            if not self.overwrite:
                refuse_changed_settings(
                    before, self.settings, folder, what=f"a `culturemert {self.command}` run", ignore=free,
                    remedy=f"its finished stages would be reused, not redone. Pass another {self.flag}, the same "
                           "settings to resume, or --overwrite to restart the run there")
        self.restart = bool(ours) and self.overwrite

    def start(self, total=None, after_record=None):
        """Write the settings (restarting first under ``--overwrite``); returns the run's :class:`StageLog`."""
        if self.writer:
            if self.restart:
                logger.warning("--overwrite: deleting what earlier `culturemert %s` runs wrote in %s (only that)",
                               self.command, self.folder)
                self.manifest.remove_all()
            self.manifest.claim([SETTINGS_FILE, STAGES_FILE, SUMMARY_FILE])
            if not self.ours and (self.folder / STAGES_FILE).is_file():  # not our log: no stage counts as done
                (self.folder / STAGES_FILE).unlink()
            atomic_write_text(self.folder / SETTINGS_FILE, json.dumps(self.settings, indent=2) + "\n")
        return StageLog(self.folder / STAGES_FILE, total=total, writer=self.writer, after_record=after_record,
                        manifest=self.manifest)

    def write_summary(self, summary):
        if self.writer:
            atomic_write_text(self.folder / SUMMARY_FILE, json.dumps(summary, indent=2, default=str))
        return self.folder / SUMMARY_FILE
