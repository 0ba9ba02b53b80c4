"""A collection: the corpus split into shards in one folder, with the whole corpus's BM25 statistics, so that
dense, lexical and hybrid search over it answer exactly as one index of the corpus."""

import json
import shutil

import pytest

from conftest import build_tiny_model, make_toy_beir, write_jsonl
from textmetric.data import load_beir
from textmetric.errors import InputError
from textmetric.index import Index
from textmetric.index.building import build_index, work_folder
from textmetric.index.collection import build_collection, load_collection
from textmetric.index.lexical import LexicalIndex, LexicalSettings, BM25Statistics, Tokenizer
from textmetric.index.shards import ShardedIndex, merge_shard_hits, shard_of
from textmetric.search.retriever import Retriever


@pytest.fixture(scope="module")
def built(tmp_path_factory, _tiny_model):
    """The toy corpus as one index and as a collection of 3 shards, both with a BM25 side."""
    root = tmp_path_factory.mktemp("collection")
    data = load_beir(make_toy_beir(root / "toy"))
    build_index(_tiny_model, data.corpus, root / "one", lexical=LexicalSettings())
    build_collection(_tiny_model, data.corpus, root / "three", shards=3, lexical=LexicalSettings())
    return root, data


def _assert_same_hits(got, expected):
    for hits, truth in zip(got, expected):
        assert [d for d, _ in hits] == [d for d, _ in truth]
        assert [s for _, s in hits] == pytest.approx([s for _, s in truth], abs=1e-5)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_a_collection_answers_as_one_index_of_the_corpus(built, _tiny_model, mode):
    root, data = built
    queries = list(data.queries.values()) + ["apple river mountain", "the of and"]
    one = Retriever(_tiny_model, Index.load(root / "one"), mode=mode, depth=10)
    three = Retriever(_tiny_model, Index.load(root / "three"), mode=mode, depth=10)
    _assert_same_hits(three.hits(queries, 10), one.hits(queries, 10))


def test_a_collection_opens_as_its_shards_searched_together(built):
    root, data = built
    collection = Index.load(root / "three")
    assert isinstance(collection, ShardedIndex) and [s.shard for s in collection.shards] == [(0, 3), (1, 3), (2, 3)]
    assert sorted(collection.ids) == sorted(data.corpus) and len(collection) == len(data.corpus)
    record = json.loads((root / "three" / "collection.json").read_text())
    assert record["shards"]["count"] == 3 and record["model"]["weights_sha256"] == collection.model["weights_sha256"]
    assert record["lexical"]["documents"] == len(data.corpus)
    assert not work_folder(root / "three").exists()


def test_shard_bm25_scores_with_collection_statistics_equal_one_bm25s_index():
    texts = [" ".join(["apple", "river", "runs", "the", "coffee"][: 1 + i % 5] * (1 + i % 3)) for i in range(90)]
    ids = [f"d{i}" for i in range(90)]
    whole = LexicalIndex.build(ids, texts)
    tokenize = Tokenizer(LexicalSettings())
    statistics = BM25Statistics.of([tokenize(t) for t in texts])
    parts = []
    for s in range(4):
        rows = [i for i in range(90) if shard_of(ids[i], 4) == s]
        parts.append(LexicalIndex.build([ids[i] for i in rows], [texts[i] for i in rows], statistics=statistics))
    queries = ["apple", "river coffee", "runs the apple"]
    assert merge_shard_hits([p.search(queries, 30) for p in parts], 30) == whole.search(queries, 30)  # bit for bit


def test_evaluate_gives_the_same_metrics_over_a_collection(cli, built, tiny_model_path):
    root, _ = built
    results = []
    for index in ("one", "three"):
        code, out, err = cli("evaluate", "--data", root / "toy", "--index", root / index, "--mode", "hybrid",
                             "--model", tiny_model_path, "--json", "-q")
        assert code == 0, err
        results.append(json.loads(out))
    assert results[0] == results[1]


def test_separately_built_shards_still_refuse_lexical_search(built, tmp_path):
    root, _ = built
    loose = [Index.load(p) for p in sorted((root / "three").glob("shard-*"))]
    with pytest.raises(InputError, match="BM25 statistics are per shard when shards are built separately"):
        ShardedIndex(loose).search_lexical(["apple"], 3)


# -- building on the command line --------------------------------------------------------------

def test_the_index_command_writes_a_collection_with_shards(cli, toy_beir, tiny_model_path, tmp_path):
    code, out, err = cli("index", "--corpus", toy_beir, "--output", tmp_path / "c", "--model", tiny_model_path,
                         "--shards", "3", "--lexical", "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["shards"] == 3 and json.loads(out)["documents"] == 40
    code, out, err = cli("search", "apple river", "--index", tmp_path / "c", "--mode", "lexical", "--json")
    assert code == 0 and json.loads(out)["hits"], err


@pytest.mark.parametrize("count, message", [("0", "at least 1"), ("41", "more than the 40 documents")])
def test_a_shard_count_outside_one_to_the_documents_is_refused(cli, toy_beir, tmp_path, count, message):
    code, _, err = cli("index", "--corpus", toy_beir, "--output", tmp_path / "c", "--model", tmp_path / "no-model",
                       "--shards", count)
    assert code == 2 and message in err and err.count("\n") == 1  # before the model is even loaded
    assert not (tmp_path / "c").exists()


def test_a_collection_of_another_model_is_not_overwritten_without_the_flag(cli, built, tmp_path):
    root, _ = built
    other = build_tiny_model(tmp_path / "other", seed=1)
    code, _, err = cli("index", "--corpus", root / "toy", "--output", root / "three", "--model", other,
                       "--shards", "3")
    assert code == 2 and "already exists" in err
    assert Index.load(root / "three").model["weights_sha256"] == Index.load(root / "one").model["weights_sha256"]


def test_a_plain_index_written_over_a_collection_replaces_it_whole(cli, built, tiny_model_path, tmp_path):
    root, _ = built
    shutil.copytree(root / "three", tmp_path / "c")
    code, _, err = cli("index", "--corpus", root / "toy", "--output", tmp_path / "c", "--model", tiny_model_path,
                       "--overwrite", "-q")
    assert code == 0, err
    assert isinstance(Index.load(tmp_path / "c"), Index)  # not the collection it replaced
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["docs.sqlite", "hnsw.bin", "manifest.json"]


@pytest.mark.parametrize("old", ["one", "three"])
def test_a_collection_written_over_an_index_or_collection_keeps_only_the_users_own_files(built, _tiny_model,
                                                                                         tmp_path, old):
    root, data = built
    shutil.copytree(root / old, tmp_path / "c")
    (tmp_path / "c" / "NOTES.md").write_text("built from the March crawl")
    build_collection(_tiny_model, data.corpus, tmp_path / "c", shards=2)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["NOTES.md", "collection.json", "shard-0",
                                                                   "shard-1"]
    assert (tmp_path / "c" / "NOTES.md").read_text() == "built from the March crawl"


def test_reprojecting_a_collection_is_one_line_asking_for_one_index(cli, built, tiny_model_path, tmp_path):
    root, _ = built
    code, _, err = cli("reproject", "--index", root / "three", "--model", tiny_model_path, "--output", tmp_path / "p")
    assert code == 2 and "is a collection" in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


# -- a damaged collection ---------------------------------------------------------------------

@pytest.fixture
def copy(built, tmp_path):
    root, _ = built
    shutil.copytree(root / "three", tmp_path / "c")
    return tmp_path / "c"


def test_a_missing_shard_is_one_line_naming_the_collection(cli, copy):
    shutil.rmtree(copy / "shard-1")
    code, _, err = cli("search", "apple", "--index", copy)
    assert code == 2 and "shard 1/3 (shard-1) is missing" in err and str(copy) in err and err.count("\n") == 1


def test_a_corrupt_shard_is_refused(copy):
    data = bytearray((copy / "shard-2" / "docs.sqlite").read_bytes())
    data[-100] ^= 0xFF
    (copy / "shard-2" / "docs.sqlite").write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not match its checksum") as e:
        load_collection(copy)
    assert "shard-2" in str(e.value)


def test_an_edited_collection_record_is_refused(copy):
    record = json.loads((copy / "collection.json").read_text())
    record["shards"]["count"] = 2
    (copy / "collection.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="does not match its own checksum"):
        Index.load(copy)


def test_a_shard_swapped_for_another_shard_is_refused(copy):
    shutil.rmtree(copy / "shard-1")
    shutil.copytree(copy / "shard-2", copy / "shard-1")
    with pytest.raises(InputError, match="shard-1 holds shard 2/3, not shard 1/3"):
        load_collection(copy)


def test_a_collection_in_place_of_a_shard_is_one_line_naming_it(cli, built, copy):
    root, _ = built
    shutil.rmtree(copy / "shard-1")
    shutil.copytree(root / "three", copy / "shard-1")
    code, _, err = cli("search", "apple", "--index", copy)
    assert code == 2 and "shard-1 holds a collection, not shard 1/3" in err and err.count("\n") == 1


def test_a_shard_of_another_model_is_refused(copy, tmp_path, toy_beir):
    from textmetric.encoding import load_model

    other = load_model(build_tiny_model(tmp_path / "other", seed=1))
    build_collection(other, toy_beir, tmp_path / "other-c", shards=3)
    shutil.rmtree(copy / "shard-0")
    shutil.copytree(tmp_path / "other-c" / "shard-0", copy / "shard-0")
    with pytest.raises(InputError, match="shard-0 was built with another model"):
        load_collection(copy)


# -- writes into a shard ------------------------------------------------------------------------

def test_a_write_into_a_shard_keeps_dense_search_and_refuses_lexical_until_rebuilt(copy, _tiny_model):
    from textmetric.index.building import add_documents

    new = next(f"new{i}" for i in range(100) if shard_of(f"new{i}", 3) == 1)
    shard = Index.load(copy / "shard-1")
    add_documents(shard, _tiny_model, {new: {"text": "apple apple apple"}})
    shard.save(copy / "shard-1")
    collection = Index.load(copy)
    assert new in collection and collection.search(_tiny_model.encode(["apple"]), 50)[0]
    with pytest.raises(InputError, match="shard-1 of the collection .* changed since it was built"):
        Retriever(None, collection, mode="lexical")


def test_writing_to_the_collection_folder_itself_is_refused(cli, copy, tmp_path):
    new = write_jsonl(tmp_path / "n.jsonl", [{"_id": "n", "text": "x"}])
    code, _, err = cli("add", "--index", copy, "--corpus", new)
    assert code == 2 and "is a collection" in err and "shard-0" in err


# -- resuming -------------------------------------------------------------------------------------

def test_an_interrupted_collection_build_reuses_the_encoded_chunks_and_finished_shards(tiny_model, toy_beir,
                                                                                        tmp_path, monkeypatch):
    import textmetric.index.building as building
    import textmetric.index.collection as collection

    built_shards, encoded = [], []
    real_build, real_encode = collection.build_shard, building.encode

    def failing_build(folder, shard, *args, **kwargs):
        if len(built_shards) == 1:
            raise KeyboardInterrupt  # after the first shard
        built_shards.append(shard)
        return real_build(folder, shard, *args, **kwargs)

    monkeypatch.setattr(building, "encode", lambda m, texts, **kw: encoded.append(len(texts)) or real_encode(
        m, texts, **kw))
    monkeypatch.setattr(collection, "build_shard", failing_build)
    with pytest.raises(KeyboardInterrupt):
        build_collection(tiny_model, toy_beir, tmp_path / "c", shards=3, chunk_size=16)
    assert not (tmp_path / "c").exists() and encoded == [16, 16, 8]

    encoded.clear()
    built_shards.append("sentinel")  # let the rerun build: count the shards it builds from here on
    monkeypatch.setattr(collection, "build_shard", lambda folder, shard, *a, **kw: built_shards.append(shard)
                        or real_build(folder, shard, *a, **kw))
    build_collection(tiny_model, toy_beir, tmp_path / "c", shards=3, chunk_size=16)
    assert encoded == [] and built_shards[2:] == [(1, 3), (2, 3)]
    assert len(load_collection(tmp_path / "c")) == 40


def test_the_recorded_bm25_statistics_are_those_of_the_whole_corpus_and_checked(built, copy):
    from textmetric.index.collection import read_collection, read_statistics

    root, data = built
    statistics = read_statistics(root / "three", read_collection(root / "three"))
    assert statistics.documents == len(data.corpus) and statistics.df["appl"] >= 1  # stemmed terms
    (copy / "bm25-statistics.json").write_text("{}")
    with pytest.raises(InputError, match="does not match its checksum"):
        read_statistics(copy, read_collection(copy))


def test_a_served_collection_answers_lexical_search_as_one_index_and_takes_no_writes(built, _tiny_model):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from textmetric.encoding import Encoder
    from textmetric.serve.app import create_app

    root, _ = built
    answers = {}
    for name in ("one", "three"):
        with TestClient(create_app([root / name], model=Encoder.of(_tiny_model), api_key="k" * 20)) as client:
            info = client.get("/info").json()
            answer = client.post("/search", json={"query": "apple river", "mode": "lexical", "k": 5}).json()
            write = client.post("/documents", json=[{"_id": "n", "text": "x"}], headers={"X-API-Key": "k" * 20})
        answers[name] = [(h["doc_id"], h["score"]) for h in answer["results"][0]["hits"]]
    assert answers["three"] == answers["one"]
    assert [i["shard"] for i in info["indexes"]] == ["0/3", "1/3", "2/3"] and info["modes"][1] == "lexical"
    assert write.status_code == 403 and info["writes"] is False


def test_a_served_collection_says_writes_go_to_its_shard_folders(built, _tiny_model):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from textmetric.encoding import Encoder
    from textmetric.serve.app import create_app

    root, _ = built
    with TestClient(create_app([root / "three"], model=Encoder.of(_tiny_model), api_key="k" * 20)) as client:
        write = client.post("/documents", json=[{"_id": "n", "text": "x"}], headers={"X-API-Key": "k" * 20})
    assert write.status_code == 403
    assert "is a collection" in write.json()["error"] and "shard-0" in write.json()["error"]


def test_a_collection_served_on_ray_beside_other_folders_is_refused_before_any_cluster_starts(built):
    from textmetric.distributed.serving import serve_on_ray

    root, _ = built
    with pytest.raises(InputError, match="a collection folder is served alone"):
        serve_on_ray([root / "three", root / "one"])
