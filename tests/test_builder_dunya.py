"""Dunya builder end to end against a local Dunya (real HTTP on 127.0.0.1, no patched functions).

The server (``hf_culturemert.rehearsal.dunya_server``) answers as the real API and docserver do: the three recording
serializers' JSON, paged lists, ignored query strings, the per-recording 401 "Not logged in", 429 throttling. The
official ``compmusic`` client is run against it, so the fake is checked against the real client too.
"""

import json

import pytest

from conftest_data import make_media  # noqa: F401
from hf_culturemert.data import load_tradition
from hf_culturemert.data.builders.dunya import DunyaArguments, build_dunya, recording_tags
from hf_culturemert.data.registry import DATASETS, resource_path
from hf_culturemert.rehearsal.dunya_server import (FakeDunya, carnatic_recording, hindustani_recording,
                                                   makam_recording)

TOKEN = "test-token-123"


def _real_mbids(tradition, count):
    return resource_path("splits", tradition, "train.txt").read_text().split()[:count]


def _splits(folder, train, valid, test):
    folder.mkdir(parents=True)
    for name, ids in (("train.txt", train), ("valid.txt", valid), ("test.txt", test)):
        (folder / name).write_text("".join(f"{i}\n" for i in ids))
    return folder


@pytest.fixture(scope="module")
def tone(tmp_path_factory):
    return make_media(tmp_path_factory.mktemp("audio") / "tone.mp3", 3.0, (330.0,)).read_bytes()


@pytest.fixture
def dunya_server(tmp_path, tone):
    """makam: 6 annotated recordings (one corrupt mp3, one without audio, one the account may not download), one
    without metadata."""
    mbids = _real_mbids("makam", 8)
    records = {
        mbids[0]: makam_recording(mbids[0], "Peşrev", ["Hicaz"], ["Aksak"],
                                  [("Artist A", "Ney"), ("Artist B", "Kanun")]),
        mbids[1]: makam_recording(mbids[1], "Şarkı", ["Hicaz"], ["Düyek"],
                                  [("Artist C", "Voice"), ("Artist D", "Tanbur")]),
        mbids[2]: makam_recording(mbids[2], "Semai", ["Rast"], ["Aksak"], [("Artist C", "Voice")]),
        mbids[3]: makam_recording(mbids[3], "Corrupt mp3", ["Nihavent"], ["Sofyan"], [("Artist E", "Oud")]),
        mbids[4]: makam_recording(mbids[4], "Test piece", ["Rast"], ["Curcuna"], [("Artist B", "Kanun")]),
        mbids[5]: makam_recording(mbids[5], "No audio", ["Uşşak"], ["Aksak"], [("Artist A", "Ney")]),
        mbids[7]: makam_recording(mbids[7], "Not ours to download", ["Hicaz"], ["Aksak"], [("Artist A", "Ney")]),
        # mbids[6]: no metadata (404)
    }
    audio = {mbids[0]: tone, mbids[1]: tone, mbids[2]: tone, mbids[3]: b"ID3" + b"\x00garbage" * 50, mbids[4]: tone,
             mbids[7]: tone}
    splits = _splits(tmp_path / "splits", mbids[:4] + [mbids[6], mbids[7]], [mbids[5]], [mbids[4]])
    with FakeDunya({"makam": records}, audio, TOKEN, no_access=[mbids[7]]) as server:
        yield {"server": server, "url": server.url, "mbids": mbids, "requests": server.requests, "splits": splits}


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
    # the recording without audio permission is skipped and recorded; the others around it are written
    assert reasons[mbids[7]].startswith(f"no audio access: HTTP 401 'Not logged in' for document/by-id/{mbids[7]}/mp3")
    assert len(reasons) == 4
    # top-6 of the (successfully described) training recordings: 3 occurrences, 2, then 1 with ties alphabetical
    assert summary.vocabulary == ["makam--Hicaz", "usul--Aksak", "instrument--Ney", "instrument--Voice",
                                  "instrument--Kanun", "instrument--Oud"]
    ds = load_tradition("makam", "train", repo_id=tmp_path / "makam")
    assert ds["id"] == [mbids[0], mbids[1], mbids[2]]
    row = ds[0]
    assert row["mbid"] == mbids[0]
    assert row["tags"] == ["instrument--Kanun", "instrument--Ney", "makam--Hicaz", "usul--Aksak"]
    assert row["labels"] == [1, 1, 1, 0, 1, 0]
    assert row["duration"] == pytest.approx(2.0, abs=0.05)  # cut to --max-duration
    assert row["source_duration"] == pytest.approx(3.0, abs=0.1)
    assert row["artists"] == ["Artist A", "Artist B"]  # makam's flat performers (not empty)
    assert ds[1]["artists"] == ["Artist C", "Artist D"]
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
    assert f"/document/by-id/{mbids[7]}/mp3" in dunya_server["requests"]
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
    with pytest.raises(RuntimeError, match="Dunya refused the token \\(HTTP 401 for api/makam/recording/"):
        build_dunya(_args(dunya_server, tmp_path, token="wrong"))
    monkeypatch.setenv("DUNYA_TOKEN", TOKEN)
    assert build_dunya(_args(dunya_server, tmp_path, token=None)).counts["train"] == 3


def test_dunya_429_is_retried(dunya_server, tmp_path):
    mbids = dunya_server["mbids"]
    server = dunya_server["server"]
    server.throttle.update({f"/api/makam/recording/{mbids[0]}": 2, f"/document/by-id/{mbids[1]}/mp3": 1,
                            f"/document/by-id/{mbids[2]}/mp3": 5})
    summary = build_dunya(_args(dunya_server, tmp_path, retries=3))
    assert summary.counts["train"] == 2  # mbids[0] after two 429s, mbids[1] after one; mbids[2] throttled 3 times
    assert dunya_server["requests"].count(f"/api/makam/recording/{mbids[0]}") == 3
    assert dunya_server["requests"].count(f"/document/by-id/{mbids[1]}/mp3") == 2
    reasons = {f["id"]: f["reason"] for f in summary.failures}
    assert reasons[mbids[2]] == f"HTTP 429 for document/by-id/{mbids[2]}/mp3"


@pytest.mark.parametrize("tradition", ["carnatic", "hindustani"])
def test_dunya_indian_traditions_end_to_end(tradition, tmp_path, tone):
    mbids = _real_mbids(tradition, 3)
    if tradition == "carnatic":
        make = lambda m, title: carnatic_recording(m, title, ["thodi"], ["adi"], ["Kriti"],  # noqa: E731
                                                   [("Singer", "Voice"), ("Fiddler", "Violin")])
    else:
        make = lambda m, title: hindustani_recording(m, title, ["Yaman kalyan"], ["Teentaal"], ["Khayal"],  # noqa: E731
                                                     [("Singer", "Voice"), ("Drummer", "Tabla")])
    records = {m: make(m, f"Piece {k}") for k, m in enumerate(mbids)}
    splits = _splits(tmp_path / "splits", mbids[:1], mbids[1:2], mbids[2:])
    with FakeDunya({tradition: records}, dict.fromkeys(mbids, tone), TOKEN) as server:
        summary = build_dunya(DunyaArguments(output_dir=str(tmp_path / tradition), tradition=tradition, token=TOKEN,
                                             base_url=server.url, cache_dir=str(tmp_path / "cache"),
                                             splits_dir=str(splits), no_progress=True, retries=1))
    assert summary.counts == {"train": 1, "validation": 1, "test": 1} and not summary.failures
    row = load_tradition(tradition, "train", repo_id=tmp_path / tradition)[0]
    second = "Fiddler" if tradition == "carnatic" else "Drummer"
    assert row["artists"] == ["Singer", second]  # nested {"artist": {...}} performances
    assert sum(row["labels"]) == 5 and len(row["labels"]) == 20


def test_the_official_compmusic_client_against_the_fake_server(tmp_path, tone):
    """What the real client sends (query strings, paging, docserver paths) gets the real server's answers."""
    from compmusic import dunya  # the test extra installs it
    from compmusic.dunya import carnatic, conn, docserver, hindustani, makam

    makam_ids, carnatic_ids, hindustani_ids = (_real_mbids(t, 5) for t in ("makam", "carnatic", "hindustani"))
    records = {
        "makam": {m: makam_recording(m, f"Makam {k}", ["Hicaz"], ["Aksak"], [("Artist A", "Ney")])
                  for k, m in enumerate(makam_ids)},
        "carnatic": {m: carnatic_recording(m, f"Carnatic {k}", ["thodi"], ["adi"], ["Kriti"], [("Singer", "Voice")])
                     for k, m in enumerate(carnatic_ids)},
        "hindustani": {m: hindustani_recording(m, f"Hindustani {k}", ["Yaman kalyan"], ["Teentaal"], ["Khayal"],
                                               [("Singer", "Voice")]) for k, m in enumerate(hindustani_ids)},
    }
    previous = (conn.HOSTNAME, conn.TOKEN)
    with FakeDunya(records, {makam_ids[0]: tone}, TOKEN, no_access=[makam_ids[1]], page_size=2) as server:
        try:
            dunya.set_hostname(server.url)
            dunya.set_token(TOKEN)
            listed = makam.get_recordings()  # 5 recordings over 3 pages of 2
            assert [r["mbid"] for r in listed] == makam_ids
            assert sum(path.startswith("/api/makam/recording?") or path == "/api/makam/recording"
                       for path in server.requests) == 3
            assert len(carnatic.get_recordings(recording_detail=True)) == 5
            # the client appends ?extra_headers=None for the Indian traditions; the server ignores it
            assert carnatic.get_recording(carnatic_ids[0]) == records["carnatic"][carnatic_ids[0]]
            assert hindustani.get_recording(hindustani_ids[0]) == records["hindustani"][hindustani_ids[0]]
            assert f"/api/carnatic/recording/{carnatic_ids[0]}?extra_headers=None" in server.requests
            recording = makam.get_recording(makam_ids[0])
            assert recording_tags("makam", recording) == ["instrument--Ney", "makam--Hicaz", "usul--Aksak"]
            assert docserver.get_mp3(makam_ids[0]) == tone
            with pytest.raises(conn.HTTPError, match="401"):
                docserver.get_mp3(makam_ids[1])  # the per-recording "Not logged in"
            dunya.set_token("wrong")
            with pytest.raises(conn.HTTPError, match="401"):
                makam.get_recording(makam_ids[0])
        finally:
            conn.HOSTNAME, conn.TOKEN = previous


def test_recording_tags_follow_ccml_for_the_indian_traditions():
    carnatic = carnatic_recording("c", "x", ["thodi"], ["adi"], ["Kriti"], [("A", "Violin"), ("B", None)])
    assert recording_tags("carnatic", carnatic) == ["form--Kriti", "instrument--Violin", "raga--thodi", "tala--adi"]
    hindustani = hindustani_recording("h", "x", ["Yaman kalyan"], ["Teentaal"], ["Khayal"], [("A", "Tabla")])
    assert recording_tags("hindustani", hindustani) == ["form--Khayal", "instrument--Tabla", "raga--Yaman kalyan",
                                                        "tala--Teentaal"]
