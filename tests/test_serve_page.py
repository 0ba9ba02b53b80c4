"""The search page in a real browser: headless Chromium types a query, submits it from the keyboard, and the
page shows what the API answers; then moves through the results and adds a document with the keyboard."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

import textmetric as tm  # noqa: E402
from textmetric.serve.app import create_app  # noqa: E402
from textmetric.serve.server import running  # noqa: E402

pytestmark = pytest.mark.browser

KEY = "page-key-0123456789"
CHROMIUM = os.environ.get("TEXTMETRIC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Debian's Chromium, never a downloaded one; these flags keep it from reaching out or needing a sandbox.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page_url(beir_dir, tiny_model_path, tmp_path):
    tm.build_index(tm.Encoder.load(tiny_model_path), beir_dir, tmp_path / "index", model_name=tiny_model_path,
                   lexical=tm.LexicalSettings())
    with running(create_app(tmp_path / "index", api_key=KEY, poll=0)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, page_url):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    try:
        page.set_default_timeout(20_000)
        sync_api.expect.set_options(timeout=20_000)
        complaints = []
        page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: complaints.append(str(error)))
        page.goto(page_url)
        page.wait_for_selector("body[data-ready=true]")
        yield page
        assert [c for c in complaints if "401" not in c] == []  # no script error, nothing the CSP refused
    finally:
        page.close()


def shown(page) -> list[tuple[str, float]]:
    return [(doc_id, float(score)) for doc_id, score in page.eval_on_selector_all(
        "#results .hit", "items => items.map(item => [item.dataset.docId, item.dataset.score])")]


def search_from_keyboard(page, query: str, count: int) -> None:
    page.focus("#q")
    page.keyboard.type(query)
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#results .hit")).to_have_count(count)


def test_a_query_typed_and_submitted_shows_the_hits_the_api_answers(page, page_url, tmp_path):
    assert "5 documents" in page.inner_text("#summary")
    search_from_keyboard(page, "animals that purr", 5)
    expected = tm.Client(page_url).search_hits("animals that purr", k=10)["results"][0]["hits"]
    assert shown(page) == [(hit["doc_id"], hit["score"]) for hit in expected]
    assert page.eval_on_selector_all(".hit .rank", "ranks => ranks.map(r => r.textContent)") == \
        ["#1", "#2", "#3", "#4", "#5"]
    first = page.locator(".hit").first
    assert first.locator(".title").inner_text() == (expected[0]["title"] or "untitled")
    assert "(cosine)" in page.inner_text("#status") and " ms" in page.inner_text("#status")
    cat = page.locator(".hit[data-doc-id=d1]")
    assert cat.locator("mark").all_inner_texts() == ["animals", "purr"]
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)


def test_the_mode_and_k_are_the_api_s_and_the_keyboard_moves_through_the_results(page, page_url):
    page.select_option("#mode", "lexical")
    page.fill("#k", "2")
    search_from_keyboard(page, "bake bread", 1)  # BM25: only documents sharing a word
    expected = tm.Client(page_url).search_hits("bake bread", k=2, mode="lexical")["results"][0]["hits"]
    assert shown(page) == [(hit["doc_id"], hit["score"]) for hit in expected]
    page.select_option("#mode", "hybrid")
    page.focus("#q")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#status")).to_contain_text("(score-fusion)")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.docId") == shown(page)[0][0]
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.docId") == shown(page)[1][0]
    page.keyboard.press("Enter")
    assert "open" in page.evaluate("document.activeElement.className")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "q"


def test_a_document_added_from_the_page_is_found_by_the_next_search(page, page_url):
    page.click("#add summary")
    page.fill("#docs", '{"_id": "owl", "title": "Owls", "text": "Owls hoot at night."}')
    page.fill("#key", KEY)
    page.focus("#key")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#add-status")).to_contain_text("added 1, replaced 0")
    sync_api.expect(page.locator("#summary")).to_contain_text("6 documents")
    page.select_option("#mode", "lexical")
    search_from_keyboard(page, "owls hoot", 1)
    assert shown(page)[0][0] == "owl"


def test_a_refused_request_shows_the_service_s_reason(page):
    page.click("#add summary")
    page.fill("#docs", '{"_id": "x", "text": "x"}')
    page.fill("#key", "wrong")
    page.click("#add-form button")
    sync_api.expect(page.locator("#add-status")).to_have_class("error")
    assert "API key" in page.inner_text("#add-status")


def test_the_api_docs_page_renders_its_endpoints_offline(browser, page_url):
    page = browser.new_page()
    try:
        page.set_default_timeout(20_000)
        page.goto(page_url + "/docs")
        sync_api.expect(page.locator(".opblock-summary-path", has_text="/search")).to_have_count(1)
    finally:
        page.close()
