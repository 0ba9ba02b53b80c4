"""Filters: the spec and its command-line form, what each operator matches, and filtered search being the true
top k of the matching documents in every index and mode."""

import numpy as np
import pytest

import textmetric.index.vectors as vectors_module
from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import ExactIndex, Index
from textmetric.index.shards import ShardedIndex, select_shard
from textmetric.index.filters import Condition, Filter, parse_cli_filters, parse_filter
from textmetric.search.retriever import Retriever

# -- the spec ------------------------------------------------------------------------------------


def test_a_bare_value_is_equality_and_operators_on_one_field_all_hold():
    assert parse_filter({"lang": "en", "year": {"$gte": 2000, "$lt": 2010}}) == Filter((
        Condition("lang", "$eq", "en"), Condition("year", "$gte", 2000), Condition("year", "$lt", 2010)))


def test_no_filter_and_an_empty_one_are_none():
    assert parse_filter(None) is None and parse_filter({}) is None


@pytest.mark.parametrize("spec, message", [
    ({"year": {"$gtx": 1}}, r"filter on 'year': unknown operator \"\$gtx\" \(expected one of \$eq, \$ne, "),
    ({"year": {}}, "give a value or at least one operator"),
    ({"lang": {"$in": "en"}}, r"\$in takes a list of values, got str"),
    ({"lang": ["en"]}, "expected a string, a number, a boolean or null, got a list"),
    ({"ok": {"$gt": True}}, r"\$gt compares numbers or strings, got true"),
    ({"ok": {"$lte": None}}, r"\$lte compares numbers or strings, got null"),
    ({"x": float("nan")}, "nan is not a number a field can hold"),
    ({"": 1}, "a field name must be a non-empty string"),
    (["lang", "en"], "a filter is an object"),
])
def test_a_malformed_spec_is_a_one_line_error(spec, message):
    with pytest.raises(InputError, match=message):
        parse_filter(spec)


KINDS = {"lang": {"string"}, "year": {"number", "null"}, "open": {"boolean"}, "tags": {"json"}}


def test_an_unknown_field_is_an_error_naming_the_known_ones():
    with pytest.raises(InputError, match="unknown field 'langue' \\(the documents' fields: 'lang', 'open', 'tags', "
                                         "'year'\\)"):
        parse_filter({"langue": "en"}).check(KINDS)


@pytest.mark.parametrize("spec, message", [
    ({"year": "2020"}, "filter on 'year': the field holds null and numbers, not strings \\(\"2020\"\\)"),
    ({"lang": {"$in": ["en", 1]}}, "the field holds strings, not numbers \\(1\\)"),
    ({"open": 1}, "holds booleans, not numbers"),
    ({"tags": "x"}, "holds lists or objects, not strings"),
])
def test_a_value_of_a_type_the_field_never_holds_is_an_error(spec, message):
    with pytest.raises(InputError, match=message):
        parse_filter(spec).check(KINDS)


def test_null_may_be_asked_of_any_field():
    assert parse_filter({"lang": None, "open": {"$ne": None}}).check(KINDS).checked


# -- the command-line form -----------------------------------------------------------------------


@pytest.mark.parametrize("items, spec", [
    (["lang=en"], {"lang": {"$eq": "en"}}),
    (["year=2020"], {"year": {"$eq": 2020}}),
    (['year="2020"'], {"year": {"$eq": "2020"}}),
    (["code=007"], {"code": {"$eq": "007"}}),  # not JSON: the text as it is
    (["open=true", "score=null"], {"open": {"$eq": True}, "score": {"$eq": None}}),
    (["year>=2000", "year<2010"], {"year": {"$gte": 2000, "$lt": 2010}}),
    (["x>1.5", "x<=2e3", "s!=a b"], {"x": {"$gt": 1.5, "$lte": 2000.0}, "s": {"$ne": "a b"}}),
    (['lang=["en","de"]'], {"lang": {"$in": ["en", "de"]}}),
    (["url=http://x?a=b"], {"url": {"$eq": "http://x?a=b"}}),
    (["lang="], {"lang": {"$eq": ""}}),
    (["x=NaN"], {"x": {"$eq": "NaN"}}),
    (['{"year": {"$gte": 2000}}', "lang==en"], {"year": {"$gte": 2000}, "lang": {"$eq": "en"}}),
])
def test_cli_filters_parse_into_the_same_spec(items, spec):
    assert parse_cli_filters(items) == Filter(tuple(
        Condition(field, op, tuple(value) if op == "$in" else value)
        for field, tests in spec.items() for op, value in tests.items()))


def test_no_cli_filter_is_none():
    assert parse_cli_filters([]) is None


@pytest.mark.parametrize("item, message", [
    ("lang", "--filter takes FIELD=VALUE"),
    ("=en", "--filter takes FIELD=VALUE"),
    ('lang!=["en"]', "a list of values goes with ="),
    ("{lang: 1}", "malformed JSON"),
    ('{"year": {"$near": 1}}', "unknown operator"),
])
def test_a_malformed_cli_filter_is_a_one_line_error(item, message):
    with pytest.raises(InputError, match=message):
        parse_cli_filters([item])


# -- what each operator matches --------------------------------------------------------------------

DOCS = {
    "a": {"lang": "en", "year": 2020, "score": 0.5, "open": True},
    "b": {"lang": "de", "year": 1999.0, "score": None, "open": False},
    "c": {"lang": "en", "year": 2005, "open": 1 == 0, "tags": ["x"]},
    "d": {"lang": "fr", "year": "2020"},
    "e": {},
}


def fielded_index():
    index = ExactIndex(list(DOCS), np.eye(len(DOCS), 8), documents=[Document(d, fields=f) for d, f in DOCS.items()])
    return index


@pytest.mark.parametrize("spec, expected", [
    ({"lang": "en"}, "ac"),
    ({"year": 1999}, "b"),            # 1999 == 1999.0
    ({"year": 2020}, "a"),            # never the string "2020"
    ({"year": "2020"}, "d"),
    ({"open": False}, "bc"),          # a boolean, not 0
    ({"score": None}, "b"),           # null, not missing
    ({"lang": {"$ne": "en"}}, "bde"),  # missing counts as different
    ({"lang": {"$in": ["de", "fr", "xx"]}}, "bd"),
    ({"lang": {"$in": []}}, ""),
    ({"year": {"$gte": 2000, "$lt": 2020}}, "c"),
    ({"year": {"$gt": 1999}}, "ac"),
    ({"lang": {"$lt": "en"}}, "b"),   # strings in code-point order
    ({"lang": "en", "open": True}, "a"),
    ({"lang": "es"}, ""),             # matches nothing: no error
])
def test_each_operator_matches_the_documents_the_spec_says(spec, expected):
    index = fielded_index()
    hits = index.search(np.ones((1, 8)), 10, filter=spec)[0]
    assert sorted(d for d, _ in hits) == list(expected)


# -- filtered dense search is the true top k of the matching documents ------------------------------

N, DIM = 2000, 16


def clustered(n, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIM))
    return (centres[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, DIM))).astype(np.float32)


@pytest.fixture(scope="module")
def pair():
    """An HNSW index (default M, ef_construction and ef) and exact search over the same documents."""
    ids = [f"doc{i:04d}" for i in range(N)]
    documents = [Document(d, fields={"group": i % 64, "half": i % 2 == 0, "lang": ["en", "de", "fr"][i % 3]})
                 for i, d in enumerate(ids)]
    vectors = clustered(N, 0)
    index = Index(DIM)
    index.add(ids, vectors, documents)
    return index, ExactIndex(ids, vectors, documents=documents)


QUERIES = clustered(40, 1)
FILTERS = {
    "selective (1.6 %)": {"group": 5},
    "two groups (3 %)": {"group": {"$in": [7, 8]}},
    "half": {"half": True},
    "two thirds": {"lang": {"$ne": "fr"}},
    "a range and a string": {"group": {"$gte": 10, "$lt": 30}, "lang": "de"},
}


def ids_of(rows):
    return [[d for d, _ in hits] for hits in rows]


@pytest.mark.parametrize("name", FILTERS)
def test_filtered_hnsw_search_is_the_exact_filtered_top_k_at_the_default_ef(pair, name):
    index, exact = pair
    found, truth = index.search(QUERIES, 10, filter=FILTERS[name]), exact.search(QUERIES, 10, filter=FILTERS[name])
    assert ids_of(found) == ids_of(truth)
    np.testing.assert_allclose([s for hits in found for _, s in hits], [s for hits in truth for _, s in hits],
                               atol=1e-5)


@pytest.mark.parametrize("name", FILTERS)
def test_the_filtered_graph_walk_alone_finds_the_exact_filtered_top_k(pair, name, monkeypatch):
    monkeypatch.setattr(vectors_module, "scan_is_cheaper", lambda *args: False)
    index, exact = pair
    assert ids_of(index.search(QUERIES, 10, filter=FILTERS[name])) == ids_of(exact.search(QUERIES, 10,
                                                                                          filter=FILTERS[name]))


def test_the_scan_alone_finds_the_exact_filtered_top_k(pair, monkeypatch):
    monkeypatch.setattr(vectors_module, "scan_is_cheaper", lambda *args: True)
    index, exact = pair
    assert ids_of(index.search(QUERIES, 10, filter={"half": False})) == ids_of(
        exact.search(QUERIES, 10, filter={"half": False}))


def test_the_scan_is_chosen_when_it_costs_fewer_distance_computations():
    # 2 * M * ef * live = 2 * 16 * 100 * 1_000_000 = 3.2e9: the line lies near 56,569 allowed documents
    assert vectors_module.scan_is_cheaper(56_000, 1_000_000, 16, 100)
    assert not vectors_module.scan_is_cheaper(57_000, 1_000_000, 16, 100)


def test_a_filter_matching_nothing_gives_empty_hits_for_every_query(pair):
    index, exact = pair
    assert index.search(QUERIES[:3], 10, filter={"group": 999}) == [[], [], []]
    assert exact.search(QUERIES[:3], 10, filter={"group": 999}) == [[], [], []]


def test_k_is_clamped_to_the_matching_documents(pair):
    index, _ = pair
    hits = index.search(QUERIES[:1], 100, filter={"group": 3})[0]
    assert len(hits) == len(range(3, N, 64)) and {int(d[3:]) % 64 for d, _ in hits} == {3}


def test_a_filtered_search_never_returns_a_deleted_document():
    ids = [f"d{i}" for i in range(50)]
    index = Index(DIM)
    index.add(ids, clustered(50, 2), [Document(d, fields={"keep": i < 10}) for i, d in enumerate(ids)])
    index.delete(["d0", "d1"])
    hits = index.search(clustered(3, 3), 20, filter={"keep": True})
    assert all(sorted(d for d, _ in row) == sorted(f"d{i}" for i in range(2, 10)) for row in hits)


def test_an_unknown_field_is_an_error_even_before_the_search(pair):
    index, exact = pair
    for searched in (index, exact):
        with pytest.raises(InputError, match="unknown field 'year'"):
            searched.search(QUERIES[:1], 5, filter={"year": 2000})


# -- lexical, hybrid and shards --------------------------------------------------------------------

TEXTS = {"d1": ("cats purr softly", "en"), "d2": ("cats and dogs", "de"), "d3": ("dogs bark", "en"),
         "d4": ("a cat sleeps", "de"), "d5": ("bread and butter", "en")}


@pytest.fixture
def lexical_index(tiny_model):
    """An HNSW index with a BM25 side, of the tiny model's vectors of TEXTS, each document with its language."""
    from textmetric.encoding import Encoder

    ids, texts = list(TEXTS), [text for text, _ in TEXTS.values()]
    vectors = Encoder.of(tiny_model).encode_documents(texts)
    index = Index(vectors.shape[1], ef=50)
    index.add(ids, vectors, [Document(t, fields={"lang": lang}) for t, lang in TEXTS.values()])
    index.enable_lexical()
    return index


def test_a_filtered_lexical_search_keeps_only_matching_documents_with_unchanged_scores(lexical_index):
    whole = dict(lexical_index.search_lexical(["cats dogs"], 5)[0])
    filtered = lexical_index.search_lexical(["cats dogs"], 5, filter={"lang": "de"})[0]
    assert [d for d, _ in filtered] == [d for d in whole if TEXTS[d][1] == "de"]
    assert all(score == whole[d] for d, score in filtered)


def test_a_filtered_lexical_search_after_a_delete_still_maps_rows_to_documents(lexical_index):
    lexical_index.delete(["d1"])
    assert [d for d, _ in lexical_index.search_lexical(["cats dogs purr"], 5, filter={"lang": "en"})[0]] == ["d3"]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_returns_only_matching_documents(lexical_index, tiny_model, mode):
    run = Retriever(tiny_model, lexical_index, mode=mode).search({"q": "cats dogs bread"}, k=5,
                                                                 filter={"lang": "en"})
    assert run["q"] and {TEXTS[d][1] for d in run["q"]} == {"en"}


def test_hybrid_fuses_the_two_filtered_sides(lexical_index, tiny_model):
    from textmetric.search.fusion import reciprocal_rank_fusion

    retriever = Retriever(tiny_model, lexical_index, mode="hybrid", fusion="rrf", depth=3)
    spec, embeddings = {"lang": "de"}, retriever.encode(["cats"])
    dense = lexical_index.search(embeddings, 3, filter=spec)[0]
    lexical = lexical_index.search_lexical(["cats"], 3, filter=spec)[0]
    assert retriever.hits(["cats"], 5, embeddings, filter=spec)[0] == reciprocal_rank_fusion([dense, lexical])[:5]


def test_a_retriever_refuses_a_bad_filter_before_encoding_anything(lexical_index, tiny_model):
    retriever = Retriever(tiny_model, lexical_index)
    retriever.encoder = None  # encoding would fail
    with pytest.raises(InputError, match="unknown field 'year'"):
        retriever.search(["cats"], k=3, filter={"year": 1})


def test_shards_are_each_filtered_then_merged(pair):
    index, exact = pair
    ids = index.ids
    documents = {d: index.document(d) for d in ids}
    shards = []
    for i in range(3):
        part = list(select_shard(documents, (i, 3)))
        shard = Index(DIM)
        shard.add(part, index.embeddings(part), [documents[d] for d in part])
        shards.append(shard)
    sharded = ShardedIndex(shards)
    for spec in FILTERS.values():
        assert ids_of(sharded.search(QUERIES, 10, filter=spec)) == ids_of(exact.search(QUERIES, 10, filter=spec))


def test_a_field_only_some_shards_have_is_known_to_the_shards_together():
    one, two = Index(4), Index(4)
    one.add(["a"], np.ones((1, 4)), [Document("x", fields={"lang": "en"})])
    two.add(["b"], np.ones((1, 4)), [Document("y")])
    sharded = ShardedIndex([one, two])
    assert [d for d, _ in sharded.search(np.ones((1, 4)), 5, filter={"lang": "en"})[0]] == ["a"]
    assert [d for d, _ in sharded.search(np.ones((1, 4)), 5, filter={"lang": {"$ne": "en"}})[0]] == ["b"]
    with pytest.raises(InputError, match="unknown field 'year'"):
        sharded.search(np.ones((1, 4)), 5, filter={"year": 1})
