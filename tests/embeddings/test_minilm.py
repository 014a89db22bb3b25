"""The NumPy all-MiniLM-L6-v2 against sentence-transformers' vectors (no PyTorch here).

tests/fixtures/minilm_reference.json comes from scripts/make_minilm_fixture.py, run once
in a throwaway environment with PyTorch and sentence-transformers.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from universal_ai_tools.embeddings import MiniLMEmbedder, default_model_dir
from universal_ai_tools.embeddings.minilm import plan_batches
from universal_ai_tools.settings import ConfigError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm_reference.json"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def _cases(reference: dict[str, Any]) -> tuple[list[str], np.ndarray[Any, Any]]:
    texts = [case["text"] for case in reference["cases"]]
    return texts, np.array([case["vector"] for case in reference["cases"]], dtype=np.float64)


def test_fixture_covers_truncation(reference: dict[str, Any]) -> None:
    assert reference["max_seq_length"] == 256
    assert any(case["tokens"] == 256 for case in reference["cases"])
    assert len(reference["cases"]) >= 10


def test_batch_matches_sentence_transformers(
    embedder: MiniLMEmbedder, reference: dict[str, Any]
) -> None:
    texts, expected = _cases(reference)
    vectors = embedder.embed(texts)
    assert vectors.shape == (len(texts), 384)
    assert vectors.dtype == np.float32
    worst = np.abs(vectors - expected).max(axis=1)
    assert worst.max() < 1e-4, dict(zip(texts, worst.tolist(), strict=True))


def test_one_by_one_matches_sentence_transformers_and_batch(
    embedder: MiniLMEmbedder, reference: dict[str, Any]
) -> None:
    texts, expected = _cases(reference)
    single = np.concatenate([embedder.embed([text]) for text in texts])
    assert np.abs(single - expected).max() < 1e-4
    assert np.abs(single - embedder.embed(texts)).max() < 1e-5


def test_mixed_lengths_keep_input_order(embedder: MiniLMEmbedder) -> None:
    texts = [
        "word " * 300,  # truncated
        "short",
        "a somewhat longer sentence about the weather in spring",
        "",
        "medium length text here",
        "short",
    ]
    batch = embedder.embed(texts)
    for i, text in enumerate(texts):
        assert np.abs(batch[i] - embedder.embed([text])[0]).max() < 1e-5, i
    assert np.array_equal(batch[1], batch[5])


def test_many_texts_split_into_several_batches(embedder: MiniLMEmbedder) -> None:
    texts = [("token " * (i * 7 % 250)) + str(i) for i in range(60)]
    batch = embedder.embed(texts)
    for i in (0, 17, 33, 59):
        assert np.abs(batch[i] - embedder.embed([texts[i]])[0]).max() < 1e-5


def test_vectors_have_unit_norm(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["Hello world", "", "12345", "Ünïcødé 🚀", "x " * 500])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.count_tokens([]) == []


def test_count_tokens(embedder: MiniLMEmbedder, reference: dict[str, Any]) -> None:
    # [CLS] the cat sits on the mat . [SEP]
    assert embedder.count_tokens(["The cat sits on the mat."]) == [9]
    assert embedder.count_tokens(["", "word " * 1000]) == [2, 256]
    texts = [case["text"] for case in reference["cases"]]
    assert embedder.count_tokens(texts) == [case["tokens"] for case in reference["cases"]]


def test_missing_model_files_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.json"):
        MiniLMEmbedder(tmp_path)


def test_max_tokens_truncates_earlier() -> None:
    short = MiniLMEmbedder(max_tokens=8)
    assert short.count_tokens(["one two three four five six seven eight"]) == [8]
    with pytest.raises(ValueError):
        MiniLMEmbedder(max_tokens=1000)


def test_paraphrases_are_closer_than_unrelated(embedder: MiniLMEmbedder) -> None:
    cat, feline, revenue, kitten = embedder.embed(
        [
            "The cat sits on the mat.",
            "A feline is resting on the rug.",
            "Quarterly revenue grew by 12% compared with last year.",
            "A kitten is sleeping on a carpet.",
        ]
    )
    assert float(cat @ feline) > float(cat @ revenue) + 0.3
    assert float(feline @ kitten) > float(feline @ revenue) + 0.3


def test_properties(embedder: MiniLMEmbedder) -> None:
    assert embedder.dimensions == 384
    assert embedder.name == "all-MiniLM-L6-v2"
    assert embedder.max_tokens == 256
    assert (default_model_dir() / "model.safetensors").is_file()


def test_embed_from_worker_threads(embedder: MiniLMEmbedder) -> None:
    texts = ["first text", "a second, longer text to embed", "third", "fourth one here"]
    expected = [embedder.embed([text])[0] for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: embedder.embed([t])[0], texts * 5))
    for i, vector in enumerate(results):
        assert np.abs(vector - expected[i % len(texts)]).max() < 1e-6


def test_embed_with_counts(embedder: MiniLMEmbedder) -> None:
    texts = ["The cat sits on the mat.", "", "word " * 1000]
    vectors, counts = embedder.embed_with_counts(texts)
    assert counts == [9, 2, 256]
    assert np.array_equal(vectors, embedder.embed(texts))


def test_a_bare_string_is_refused(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("not a list")
    with pytest.raises(TypeError):
        embedder.count_tokens("")


def test_plan_batches_limits_padding() -> None:
    lengths = [256, 3, 13, 9, 42, 33, 4, 26, 11, 6, 28, 13]
    batches = plan_batches(lengths)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert [0] in batches  # the truncated text runs alone, not padding 11 others to 256
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert len(batch) * max(lengths[i] for i in batch) - real <= 32 + real // 8
    assert plan_batches([20] * 300) == [list(range(204)), list(range(204, 300))]  # 4096 tokens
    assert plan_batches([]) == []
