"""The `textmetric serve` command: its URL and summary, a change made by `textmetric add` in another process
picked up without a restart, a clean stop on SIGTERM, and a taken port refused before the model loads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import write_jsonl

pytest.importorskip("fastapi")

import textmetric as tm  # noqa: E402


@pytest.fixture
def index_dir(beir_dir, tiny_model_path, tmp_path):
    tm.build_index(tm.Encoder.load(tiny_model_path), beir_dir, tmp_path / "index", model_name=tiny_model_path,
                   lexical=tm.LexicalSettings())
    return tmp_path / "index"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {seconds} s")


def test_serve_prints_its_url_picks_up_an_add_from_another_process_and_stops_cleanly_on_sigterm(
        cli, index_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"  # the default host: this machine only
    new = write_jsonl(tmp_path / "new.jsonl", [{"_id": "n1", "title": "Owls", "text": "Owls hoot in the night."}])
    seen: dict = {}

    def drive() -> None:
        try:
            client = tm.Client(url)
            until(client.health, 60, "answer from the service")
            seen["before"] = client.info()
            subprocess.run([sys.executable, "-m", "textmetric", "add", "--index", str(index_dir), "--corpus",
                            str(new), "--quiet"], check=True, timeout=120, capture_output=True)
            seen["after"] = until(lambda: (info := client.info())["documents"] == 6 and info, 30, "pick-up of the add")
            seen["hits"] = client.search(["owls hoot"], k=1, mode="lexical")["0"]
        except BaseException as error:
            seen["error"] = error
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    def interrupted(number, frame):  # a SIGTERM that comes before the service serves stops the test, not pytest
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    helper = threading.Thread(target=drive, daemon=True)
    try:
        helper.start()
        code, out, err = cli("serve", "--index", index_dir, "--port", port, "--poll", "0.1")
    finally:
        signal.signal(signal.SIGTERM, previous)
        helper.join(timeout=10)
    assert "error" not in seen, seen.get("error")
    assert code == 0
    assert out.splitlines()[0] == url
    assert f"textmetric serve: {url} — 5 documents, model " in err and "modes dense, lexical, hybrid" in err
    assert "writes off" in err and err.rstrip().endswith("textmetric serve: stopped (SIGTERM)")
    assert seen["before"]["documents"] == 5 and seen["after"]["state"] == seen["before"]["state"] + 1
    assert list(seen["hits"]) == ["n1"]


def test_a_port_already_taken_is_refused_in_one_line_before_the_model_loads(cli, index_dir, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model loaded before the port was checked")

    monkeypatch.setattr("textmetric.serve.service.load_index_model", no_model)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, out, err = cli("serve", "--index", index_dir, "--port", taken.getsockname()[1])
    assert code == 2 and out == ""
    assert err.startswith("textmetric: error: cannot listen on 127.0.0.1:") and len(err.splitlines()) == 1


def test_a_missing_index_is_refused_in_one_line(cli, tmp_path):
    code, _, err = cli("serve", "--index", tmp_path / "nothing", "--port", 0)
    assert code == 2 and "no such index folder" in err and len(err.splitlines()) == 1
