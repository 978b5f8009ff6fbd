"""`culturemert push`: dry-run listings and folder checks, and a real upload against a local fake Hub server."""

import base64
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hf_culturemert.commands import push as push_command
from hf_culturemert.export import save_model_folder
from hf_culturemert.publish import plan_upload, push_folder
from hf_culturemert.testing import random_model, tiny_mert_config

SECRET = "hf_TESTSECRETtoken0123456789abcdef"


@pytest.fixture
def model_folder(tmp_path):
    folder = save_model_folder(random_model(tiny_mert_config()), tmp_path / "model", card_text="# tiny\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "modeling_mert.cpython-311.pyc").write_bytes(b"\0" * 10)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("x")
    (folder / "notes.tmp").write_text("scratch")
    return folder


@pytest.fixture
def dataset_folder(tmp_path):
    folder = tmp_path / "dataset"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    (folder / "data" / "test-00000-of-00001.parquet").write_bytes(b"PAR1" + b"\0" * 50)
    (folder / "README.md").write_text(
        "---\nlicense: cc-by-4.0\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        "    path: data/train-*\n  - split: test\n    path: data/test-*\n---\n# d\n")
    (folder / ".build").mkdir()
    (folder / ".build" / "state.json").write_text("{}")
    return folder


@pytest.fixture
def space_folder(tmp_path):
    folder = tmp_path / "space"
    folder.mkdir()
    (folder / "app.py").write_text("import gradio\n")
    (folder / "requirements.txt").write_text("gradio\n")
    (folder / "README.md").write_text("---\ntitle: t\nsdk: gradio\napp_file: app.py\n---\n# s\n")
    return folder


def test_dry_run_lists_files_and_sizes_without_ignored(model_folder, capsys):
    rc = push_command.main(["model", str(model_folder), "--repo-id", "org/tiny", "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0, out
    for name in ("config.json", "model.safetensors", "modeling_mert.py", "configuration_mert.py",
                 "preprocessor_config.json", "README.md"):
        assert name in out
    size = (model_folder / "model.safetensors").stat().st_size
    assert f"{size / 1024:.1f} KB" in out
    assert "__pycache__" not in out and ".cache" not in out and "notes.tmp" not in out
    assert "folder is valid" in out and "nothing was uploaded" in out


def test_model_folder_checks(model_folder):
    assert plan_upload("model", model_folder).ok
    (model_folder / "modeling_mert.py").unlink()
    (model_folder / "pytorch_model.bin").write_bytes(b"\0")
    plan = plan_upload("model", model_folder)
    assert not plan.ok
    text = " ".join(plan.errors)
    assert "modeling_mert.py" in text and "pickle" in text
    (model_folder / "model.safetensors").unlink()
    assert any("safetensors" in e for e in plan_upload("model", model_folder).errors)


def test_dataset_and_space_checks(dataset_folder, space_folder, capsys):
    plan = plan_upload("dataset", dataset_folder, "org/data")
    assert plan.ok, plan.errors
    assert {p for p, _ in plan.files} == {"README.md", "data/train-00000-of-00001.parquet",
                                          "data/test-00000-of-00001.parquet"}
    (dataset_folder / "data" / "test-00000-of-00001.parquet").unlink()
    assert any("data/test-*" in e for e in plan_upload("dataset", dataset_folder).errors)
    (dataset_folder / "README.md").write_text("# no header\n")
    assert any("configs" in e for e in plan_upload("dataset", dataset_folder).errors)

    assert plan_upload("space", space_folder).ok
    (space_folder / "README.md").write_text("---\ntitle: t\nsdk: flask\n---\n")
    rc = push_command.main(["space", str(space_folder), "--repo-id", "org/s", "--dry-run"])
    assert rc == 1 and "sdk" in capsys.readouterr().out
    (space_folder / "README.md").write_text("---\ntitle: t\nsdk: gradio\n---\n")
    (space_folder / "app.py").unlink()
    assert any("app.py" in e for e in plan_upload("space", space_folder).errors)


def test_invalid_arguments(tmp_path, model_folder):
    with pytest.raises(ValueError, match="Unknown repo kind"):
        plan_upload("notebook", model_folder)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        plan_upload("model", tmp_path / "missing")
    assert any("ORG/NAME" in e for e in plan_upload("model", model_folder, "no-slash").errors)
    with pytest.raises(ValueError, match="not a valid model folder"):
        push_folder("model", tmp_path, "org/x", endpoint="http://127.0.0.1:9")  # empty folder: refused offline


class FakeHub:
    """Just enough of the Hub's HTTP API for create_repo / create_branch / upload_folder (all files inline)."""

    def __init__(self):
        self.requests, self.files = [], {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, payload, code=200):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                hub.requests.append(("GET", self.path, self.headers.get("Authorization"), b""))
                self._send({"error": "not found"}, 404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(("POST", self.path, self.headers.get("Authorization"), body))
                if self.path == "/api/repos/create":
                    request = json.loads(body)
                    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[request["type"]]
                    return self._send({"url": f"{hub.url}/{prefix}{request['organization']}/{request['name']}"})
                if "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    return self._send({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                 for f in files]})
                if "/commit/" in self.path:
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            hub.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    kind, org, name = self.path.split("/")[2:5]
                    prefix = "" if kind == "models" else f"{kind}/"
                    return self._send({"commitUrl": f"{hub.url}/{prefix}{org}/{name}/commit/{'a' * 40}",
                                       "commitOid": "a" * 40, "pullRequestUrl": None})
                if "/branch/" in self.path or self.path == "/api/validate-yaml":
                    return self._send({})
                self._send({"error": "unexpected"}, 404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_hub(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # conftest sets offline for the suite
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", SECRET)
        yield hub


def test_upload_model_to_fake_hub(model_folder, fake_hub, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    rc = push_command.main(["model", str(model_folder), "--repo-id", "org/tiny", "--private",
                            "--revision", "experiment"])
    captured = capsys.readouterr()
    assert rc == 0, captured
    expected = {p for p, _ in plan_upload("model", model_folder).files}
    assert set(fake_hub.files) == expected
    assert fake_hub.files["model.safetensors"] == (model_folder / "model.safetensors").read_bytes()
    create = next(json.loads(r[3]) for r in fake_hub.requests if r[1] == "/api/repos/create")
    assert create["type"] == "model" and create.get("private", create.get("visibility") == "private")
    assert any(r[1].startswith("/api/models/org/tiny/branch/experiment") for r in fake_hub.requests)
    assert any("/commit/experiment" in r[1] for r in fake_hub.requests)
    # the token reaches the Hub, and nothing else
    assert all(r[2] == f"Bearer {SECRET}" for r in fake_hub.requests if r[0] == "POST")
    assert SECRET not in captured.out + captured.err
    assert SECRET not in caplog.text
    assert "uploaded" in captured.out and "org/tiny" in captured.out


def test_upload_space_and_dataset_to_fake_hub(space_folder, dataset_folder, fake_hub):
    result = push_folder("space", space_folder, "org/demo")
    assert result.uploaded and set(fake_hub.files) == {"app.py", "requirements.txt", "README.md"}
    create = json.loads(next(r[3] for r in fake_hub.requests if r[1] == "/api/repos/create"))
    assert create["type"] == "space" and create["sdk"] == "gradio"
    fake_hub.files.clear()
    push_folder("dataset", dataset_folder, "org/data")
    assert ".build/state.json" not in fake_hub.files
    assert set(fake_hub.files) == {"README.md", "data/train-00000-of-00001.parquet",
                                   "data/test-00000-of-00001.parquet"}
    assert any(r[1].startswith("/api/datasets/org/data/commit/") for r in fake_hub.requests)
