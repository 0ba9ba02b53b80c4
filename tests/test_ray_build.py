"""Building a collection on Ray (Ray Data reads and encodes, one task per shard builds): the same collection as
a local build, every document once even when an encoder actor is killed, and a resumable build.

Few tests, tiny data: each Ray build costs seconds. They share the session's local Ray cluster."""

import json
import os
import sys
import time

import pytest

from conftest import write_jsonl
from textmetric.encoding import Encoder
from textmetric.errors import InputError
from textmetric.index import Index
from textmetric.index.collection import build_collection
from textmetric.index.lexical import LexicalSettings
from textmetric.search.retriever import Retriever

pytest.importorskip("ray")

from textmetric.distributed import build as ray_build  # noqa: E402
from textmetric.distributed.build import EncodeBlocks, build_index_on_ray  # noqa: E402


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    """The toy corpus as a folder of two jsonl files (a corpus of many files)."""
    from conftest import make_toy_beir

    root = tmp_path_factory.mktemp("ray-toy")
    records = [json.loads(line) for line in
               (make_toy_beir(root / "toy") / "corpus.jsonl").read_text().splitlines()]
    write_jsonl(root / "files" / "a.jsonl", records[:25])
    write_jsonl(root / "files" / "b.jsonl", records[25:])
    return root


def test_a_ray_build_answers_as_the_local_collection_build(ray_cluster, toy_files, tiny_model_path):
    root = toy_files
    build_index_on_ray(root / "files", root / "ray", shards=3, model=tiny_model_path, encoders=2, block_size=8,
                       lexical=LexicalSettings())
    encoder = Encoder.load(tiny_model_path)
    build_collection(encoder, root / "toy", root / "local", shards=3, model_name=tiny_model_path,
                     lexical=LexicalSettings())
    on_ray, local = Index.load(root / "ray"), Index.load(root / "local")
    assert sorted(on_ray.ids) == sorted(local.ids) and len(on_ray.ids) == 40
    queries = ["apple river", "a tiger in the desert", "the violin"]
    for mode in ("dense", "lexical", "hybrid"):
        for got, expected in zip(Retriever(encoder, on_ray, mode=mode, depth=10).hits(queries, 10),
                                 Retriever(encoder, local, mode=mode, depth=10).hits(queries, 10)):
            assert [d for d, _ in got] == [d for d, _ in expected], mode
            assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-5), mode


class KilledOnce(EncodeBlocks):
    """An encoder actor that kills itself (ray.kill, restart allowed) once in the whole build, right after
    it wrote its first block's part files: the retried block must not land twice."""

    def __call__(self, batch):
        import ray

        answer = super().__call__(batch)
        try:
            os.close(os.open(self.workdir.parent / "killed-once", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return answer
        ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
        time.sleep(60)  # never reached: the kill ends this process


def test_an_encoder_actor_killed_mid_build_leaves_every_document_exactly_once(ray_cluster, toy_files,
                                                                               tiny_model_path, tmp_path,
                                                                               monkeypatch):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test file
    monkeypatch.setattr(ray_build, "EncodeBlocks", KilledOnce)
    collection = build_index_on_ray(toy_files / "files", tmp_path / "c", shards=3, model=tiny_model_path,
                                    encoders=2, block_size=8)
    assert (tmp_path / "killed-once").exists()
    assert len(collection.ids) == len(set(collection.ids)) == 40 and len(collection) == 40


def test_an_interrupted_ray_build_reruns_from_its_shards_and_encoded_blocks(ray_cluster, toy_files,
                                                                            tiny_model_path, tmp_path, monkeypatch,
                                                                            warnings_log):
    from conftest import warning_messages
    from textmetric.index.building import work_folder

    def interrupt(number):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(ray_build, "_shard_done", interrupt)  # the driver gives up after the first shard
    with pytest.raises(RuntimeError, match="interrupted"):
        build_index_on_ray(toy_files / "files", tmp_path / "c", shards=3, model=tiny_model_path, block_size=8)
    blocks = {p.name: p.stat().st_ino for p in (work_folder(tmp_path / "c") / "blocks").iterdir()}
    assert len(blocks) == 5 and not (tmp_path / "c").exists()

    monkeypatch.undo()
    finish, kept = ray_build.finish_collection, {}

    def finish_noting_the_blocks(target, workdir, *args):
        kept.update({p.name: p.stat().st_ino for p in (workdir / "blocks").iterdir()})
        return finish(target, workdir, *args)

    monkeypatch.setattr(ray_build, "finish_collection", finish_noting_the_blocks)
    collection = build_index_on_ray(toy_files / "files", tmp_path / "c", shards=3, model=tiny_model_path,
                                    block_size=8)
    assert kept == blocks  # the same block files: none encoded again
    assert len(collection) == 40
    assert any(m.startswith("resumed an interrupted build") for m in warning_messages(warnings_log))
    assert not work_folder(tmp_path / "c").exists()


def test_ids_repeated_across_files_are_refused_before_any_shard_is_written(ray_cluster, tmp_path,
                                                                            tiny_model_path):
    write_jsonl(tmp_path / "files" / "a.jsonl", [{"_id": "x", "text": "one"}, {"_id": "y", "text": "two"}])
    write_jsonl(tmp_path / "files" / "b.jsonl", [{"_id": "z", "text": "three"}, {"_id": "x", "text": "four"}])
    with pytest.raises(InputError, match=r"b.jsonl: duplicate document id 'x' \(first in .*a.jsonl, document 1\)"):
        build_index_on_ray(tmp_path / "files", tmp_path / "c", shards=2, model=tiny_model_path)
    assert not (tmp_path / "c").exists()


def test_a_bad_record_is_the_local_loaders_one_line_error(ray_cluster, tmp_path, tiny_model_path):
    write_jsonl(tmp_path / "files" / "a.jsonl", [{"_id": "x", "text": "one"}, {"_id": "y"}])
    with pytest.raises(InputError) as error:
        build_index_on_ray(tmp_path / "files", tmp_path / "c", shards=1, model=tiny_model_path)
    assert str(error.value).startswith(f"{tmp_path / 'files' / 'a.jsonl'}:2") and "\n" not in str(error.value)


def test_a_bad_record_is_not_also_logged_by_ray_data(ray_cluster, tmp_path, tiny_model_path):
    import logging

    import ray.data  # noqa: F401  (its import sets up its loggers, which would drop a handler added before)

    write_jsonl(tmp_path / "files" / "a.jsonl", [{"_id": "x", "text": "one"}, {"_id": "y"}])
    logged = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = logged.append
    logging.getLogger("ray.data").addHandler(handler)  # Ray Data's loggers write to stderr, beside the one line
    try:
        with pytest.raises(InputError):
            build_index_on_ray(tmp_path / "files", tmp_path / "c", shards=1, model=tiny_model_path)
    finally:
        logging.getLogger("ray.data").removeHandler(handler)
    assert [record.getMessage() for record in logged] == []


def test_an_unreachable_cluster_is_one_line_naming_it_within_seconds(cli, toy_files, tmp_path):
    start = time.perf_counter()
    code, _, err = cli("index", "--corpus", toy_files / "files", "--output", tmp_path / "c", "--ray",
                       "127.0.0.1:1", "--shards", "2", "--model", tmp_path / "no-model")
    assert code == 2 and "127.0.0.1:1" in err and err.count("\n") == 1
    assert time.perf_counter() - start < 10


def test_evaluate_and_mine_on_ray_give_the_local_results(ray_cluster, cli, toy_files, tiny_model_path, tmp_path):
    toy = toy_files / "toy"
    results = {}
    for name, extra in (("local", []), ("ray", ["--ray", "--encoders", "2"])):
        code, out, err = cli("evaluate", "--data", toy, "--model", tiny_model_path, "--json", "-q", *extra)
        assert code == 0, err
        code, _, err = cli("mine", "--data", toy, "--model", tiny_model_path, "--output", tmp_path / f"{name}.jsonl",
                           "-q", *extra)
        assert code == 0, err
        results[name] = json.loads(out), (tmp_path / f"{name}.jsonl").read_text()
    assert results["ray"][0] == pytest.approx(results["local"][0], abs=1e-6)
    assert results["ray"][1] == results["local"][1]
