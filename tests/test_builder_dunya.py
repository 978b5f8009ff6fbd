"""Dunya builder end to end against a local HTTP server (real HTTP exchanges on 127.0.0.1, no patched functions)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest_data import make_media  # noqa: F401
from hf_culturemert.data import load_tradition
from hf_culturemert.data.builders.dunya import DunyaArguments, build_dunya, recording_tags
from hf_culturemert.data.registry import DATASETS, resource_path

TOKEN = "test-token-123"


def _real_mbids(count):
    return resource_path("splits", "makam", "train.txt").read_text().split()[:count]


def _recording(mbid, makam, usul, instruments, title):
    return {"mbid": mbid, "title": title, "makamlist": [{"name": makam}], "usullist": [{"name": usul}],
            "performers": [{"artist": {"name": f"Artist of {i}"}, "instrument": {"name": i}} for i in instruments]}


@pytest.fixture
def dunya_server(tmp_path):
    """A fake Dunya: 5 annotated recordings (one with a corrupt mp3, one without audio), one without metadata."""
    mbids = _real_mbids(7)
    good = make_media(tmp_path / "tone.mp3", 3.0, (330.0,)).read_bytes()
    records = {
        mbids[0]: _recording(mbids[0], "Hicaz", "Aksak", ["Ney", "Kanun"], "Peşrev"),
        mbids[1]: _recording(mbids[1], "Hicaz", "Düyek", ["Voice", "Tanbur"], "Şarkı"),
        mbids[2]: _recording(mbids[2], "Rast", "Aksak", ["Voice"], "Semai"),
        mbids[3]: _recording(mbids[3], "Nihavent", "Sofyan", ["Oud"], "Corrupt mp3"),
        mbids[4]: _recording(mbids[4], "Rast", "Curcuna", ["Kanun"], "Test piece"),
        mbids[5]: _recording(mbids[5], "Uşşak", "Aksak", ["Ney"], "No audio"),
        # mbids[6]: no metadata (404)
    }
    audio = {mbids[0]: good, mbids[1]: good, mbids[2]: good, mbids[3]: b"ID3" + b"\x00garbage" * 50,
             mbids[4]: good}
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body, kind):
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            requests.append(self.path)
            if self.headers.get("Authorization") != f"Token {TOKEN}":
                return self._send(401, b'{"detail": "Invalid token."}', "application/json")
            parts = self.path.strip("/").split("/")
            if parts[:3] == ["api", "makam", "recording"] and parts[3] in records:
                return self._send(200, json.dumps(records[parts[3]]).encode(), "application/json")
            if parts[:2] == ["document", "by-id"] and parts[3:] == ["mp3"] and parts[2] in audio:
                return self._send(200, audio[parts[2]], "audio/mpeg")
            return self._send(404, b'{"detail": "Not found."}', "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train.txt").write_text("\n".join(mbids[:4] + [mbids[6]]) + "\n")
    (splits / "valid.txt").write_text(mbids[5] + "\n")
    (splits / "test.txt").write_text(mbids[4] + "\n")
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "mbids": mbids, "requests": requests,
           "splits": splits}
    server.shutdown()
    server.server_close()


def _args(server, tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path / "makam"), tradition="makam", token=TOKEN, base_url=server["url"],
                  cache_dir=str(tmp_path / "cache"), splits_dir=str(server["splits"]), max_duration=2.0,
                  no_progress=True, retries=1, timeout=10.0)
    values.update(overrides)
    return DunyaArguments(**values)


def test_dunya_builder_end_to_end(dunya_server, tmp_path):
    mbids = dunya_server["mbids"]
    summary = build_dunya(_args(dunya_server, tmp_path, vocabulary="train", top_n=6))
    assert summary.counts == {"train": 3, "validation": 0, "test": 1}
    reasons = {f["id"]: f["reason"] for f in summary.failures}
    assert reasons[mbids[6]] == f"metadata: HTTP 404 for api/makam/recording/{mbids[6]}"
    assert reasons[mbids[3]].startswith("undecodable audio")
    assert reasons[mbids[5]] == f"HTTP 404 for document/by-id/{mbids[5]}/mp3"
    assert len(reasons) == 3
    # top-6 of the (successfully described) training recordings: 2 occurrences, then 1, ties alphabetical
    assert summary.vocabulary == ["instrument--Voice", "makam--Hicaz", "usul--Aksak", "instrument--Kanun",
                                  "instrument--Ney", "instrument--Oud"]
    ds = load_tradition("makam", "train", repo_id=tmp_path / "makam")
    row = ds[0]
    assert row["id"] == mbids[0] and row["mbid"] == mbids[0]
    assert row["tags"] == ["instrument--Kanun", "instrument--Ney", "makam--Hicaz", "usul--Aksak"]
    assert row["labels"] == [0, 1, 1, 1, 1, 0]
    assert row["duration"] == pytest.approx(2.0, abs=0.05)  # cut to --max-duration
    assert row["source_duration"] == pytest.approx(3.0, abs=0.1)
    assert row["artists"] == ["Artist of Ney", "Artist of Kanun"]
    failures = [json.loads(line) for line in (tmp_path / "makam" / "failures.jsonl").read_text().splitlines()]
    assert {f["id"] for f in failures} == set(reasons)

    # resume: downloads are cached and shards finished, so a rerun asks the server only for what failed before
    dunya_server["requests"].clear()
    again = build_dunya(_args(dunya_server, tmp_path, vocabulary="train", top_n=6))
    assert again.counts == summary.counts
    assert sorted(dunya_server["requests"]) == sorted([f"/api/makam/recording/{mbids[6]}"])
    # --retry-failed redoes the shards with skips: the corrupt download is fetched again, the missing one asked for
    dunya_server["requests"].clear()
    retried = build_dunya(_args(dunya_server, tmp_path, vocabulary="train", top_n=6, retry_failed=True))
    assert retried.counts == summary.counts
    assert f"/document/by-id/{mbids[3]}/mp3" in dunya_server["requests"]
    assert f"/document/by-id/{mbids[5]}/mp3" in dunya_server["requests"]
    assert f"/document/by-id/{mbids[0]}/mp3" not in dunya_server["requests"]  # cached, not downloaded again


def test_dunya_ccml_vocabulary_and_no_cut(dunya_server, tmp_path):
    summary = build_dunya(_args(dunya_server, tmp_path, max_duration=0.0))
    assert summary.vocabulary == list(DATASETS["makam"].tags)
    row = load_tradition("makam", "test", repo_id=tmp_path / "makam")[0]
    assert row["duration"] == pytest.approx(3.0, abs=0.1)
    assert len(row["labels"]) == 30 and sum(row["labels"]) == 3  # makam--Rast, usul--Curcuna, instrument--Kanun


def test_dunya_token_errors(dunya_server, tmp_path, monkeypatch):
    monkeypatch.delenv("DUNYA_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="Dunya needs an API token.*DUNYA_TOKEN"):
        build_dunya(_args(dunya_server, tmp_path, token=None))
    with pytest.raises(RuntimeError, match="Dunya refused the token \\(HTTP 401"):
        build_dunya(_args(dunya_server, tmp_path, token="wrong"))
    monkeypatch.setenv("DUNYA_TOKEN", TOKEN)
    assert build_dunya(_args(dunya_server, tmp_path, token=None)).counts["train"] == 3


def test_recording_tags_follow_ccml_for_the_indian_traditions():
    carnatic = {"raaga": [{"common_name": "thodi"}], "taala": [{"common_name": "adi"}],
                "artists": [{"instrument": {"name": "Violin"}}, {"instrument": None}], "form": [{"name": "Kriti"}]}
    assert recording_tags("carnatic", carnatic) == ["form--Kriti", "instrument--Violin", "raga--thodi", "tala--adi"]
    hindustani = {"raags": [{"common_name": "Yaman kalyan"}], "taals": [{"common_name": "Teentaal"}],
                  "artists": [{"instrument": {"name": "Tabla"}}], "forms": [{"common_name": "Khayal"}]}
    assert recording_tags("hindustani", hindustani) == ["form--Khayal", "instrument--Tabla", "raga--Yaman kalyan",
                                                        "tala--Teentaal"]
