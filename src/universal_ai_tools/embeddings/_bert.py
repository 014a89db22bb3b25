"""A BERT encoder forward pass in NumPy, laid out for speed on a small CPU.

At load the weights are transposed once (so every dense layer is `x @ w`), the query,
key and value projections are fused into one (384, 1152) matrix and the attention scale
1/sqrt(64) = 0.125 is folded into the query part (a power of two, so exact). Activations
stay 2-D (tokens, width) for the dense layers, so each is one BLAS call; attention runs
on (batch, heads, seq, head_dim) views without copies. GELU is BERT's exact (erf) form.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file

Floats = NDArray[np.float32]

# GELU(x) = x * Phi(x) = x * (1 + erf(x / sqrt 2)) / 2, with erf from Abramowitz & Stegun
# 7.1.26 (absolute error 1.5e-7), written through erfc so that the negative tail keeps
# its relative accuracy: with h = erfc(|x| / sqrt 2) / 2, GELU(x) = max(x, 0) - |x| * h.
# The sqrt 2 and the 1/2 are folded into the constants. scipy is not a dependency.
_AS_P = np.float32(0.3275911 / math.sqrt(2.0))
_AS_A = tuple(  # a5 .. a1, halved
    np.float32(a / 2) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)
_F0, _F1, _MINUS_HALF = np.float32(0.0), np.float32(1.0), np.float32(-0.5)
# Elementwise work runs on row blocks of about this many values: about 200 KB a
# temporary, so the twenty passes over them stay in the core's cache (3x faster).
_GELU_BLOCK = 48 * 1024


def _gelu_block(x: Floats) -> None:
    ax = np.abs(x)
    t = ax * _AS_P
    t += _F1
    np.reciprocal(t, out=t)
    h = t * _AS_A[0]
    for a in _AS_A[1:]:
        h += a
        h *= t
    e = ax * ax
    e *= _MINUS_HALF
    np.exp(e, out=e)
    h *= e
    h *= ax
    np.maximum(x, _F0, out=x)
    x -= h


def gelu_(x: Floats) -> None:
    """In place on a 2-D array: BERT's exact (erf) GELU, to about 1e-7 absolute."""
    rows = max(1, _GELU_BLOCK // x.shape[1])
    for start in range(0, x.shape[0], rows):
        _gelu_block(x[start : start + rows])


@dataclass(frozen=True, slots=True)
class Layer:
    qkv_w: Floats  # (hidden, 3 * hidden), query columns pre-scaled
    qkv_b: Floats
    attn_out_w: Floats
    attn_out_b: Floats
    attn_norm_w: Floats
    attn_norm_b: Floats
    ffn_in_w: Floats
    ffn_in_b: Floats
    ffn_out_w: Floats
    ffn_out_b: Floats
    ffn_norm_w: Floats
    ffn_norm_b: Floats


@dataclass(frozen=True, slots=True)
class Bert:
    """Read-only weights and the forward pass; safe to share between threads."""

    word: Floats  # (vocab, hidden)
    position_type: Floats  # (max_positions, hidden): position + token type 0 embeddings
    norm_w: Floats
    norm_b: Floats
    layers: tuple[Layer, ...]
    heads: int
    eps: float

    @property
    def hidden(self) -> int:
        return int(self.word.shape[1])

    @property
    def max_positions(self) -> int:
        return int(self.position_type.shape[0])

    @classmethod
    def load(cls, model_dir: Path) -> Bert:
        config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
        tensors = load_file(model_dir / "model.safetensors")

        def get(name: str) -> Floats:
            return np.ascontiguousarray(tensors[name], dtype=np.float32)

        def dense_t(name: str) -> Floats:
            """torch Linear stores (out, in); keep (in, out) so a layer is x @ w."""
            return np.ascontiguousarray(get(name).T)

        heads = int(config["num_attention_heads"])
        scale = np.float32(1.0 / np.sqrt(int(config["hidden_size"]) // heads))
        layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention.self."
            layers.append(
                Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate(
                            [
                                dense_t(a + "query.weight") * scale,
                                dense_t(a + "key.weight"),
                                dense_t(a + "value.weight"),
                            ],
                            axis=1,
                        )
                    ),
                    qkv_b=np.concatenate(
                        [get(a + "query.bias") * scale, get(a + "key.bias"), get(a + "value.bias")]
                    ),
                    attn_out_w=dense_t(p + "attention.output.dense.weight"),
                    attn_out_b=get(p + "attention.output.dense.bias"),
                    attn_norm_w=get(p + "attention.output.LayerNorm.weight"),
                    attn_norm_b=get(p + "attention.output.LayerNorm.bias"),
                    ffn_in_w=dense_t(p + "intermediate.dense.weight"),
                    ffn_in_b=get(p + "intermediate.dense.bias"),
                    ffn_out_w=dense_t(p + "output.dense.weight"),
                    ffn_out_b=get(p + "output.dense.bias"),
                    ffn_norm_w=get(p + "output.LayerNorm.weight"),
                    ffn_norm_b=get(p + "output.LayerNorm.bias"),
                )
            )
        return cls(
            word=get("embeddings.word_embeddings.weight"),
            position_type=get("embeddings.position_embeddings.weight")
            + get("embeddings.token_type_embeddings.weight")[0],
            norm_w=get("embeddings.LayerNorm.weight"),
            norm_b=get("embeddings.LayerNorm.bias"),
            layers=tuple(layers),
            heads=heads,
            eps=float(config["layer_norm_eps"]),
        )

    def _norm(self, x: Floats, w: Floats, b: Floats) -> Floats:
        """LayerNorm over the last axis; overwrites and returns x. Row means by BLAS."""
        mean_weights = np.full(x.shape[1], 1.0 / x.shape[1], dtype=np.float32)
        x -= (x @ mean_weights)[:, None]
        scale = np.einsum("ij,ij->i", x, x)
        scale *= np.float32(1.0 / x.shape[1])
        scale += np.float32(self.eps)
        np.sqrt(scale, out=scale)
        np.reciprocal(scale, out=scale)
        x *= scale[:, None]
        x *= w
        x += b
        return x

    def forward(self, ids: NDArray[np.int64], mask: NDArray[np.bool_] | None) -> Floats:
        """Last hidden states (batch, seq, hidden) of token ids (batch, seq).

        `mask` marks real tokens; None means the batch has no padding.
        """
        batch, seq = ids.shape
        hidden, heads = self.hidden, self.heads
        x = self.word[ids]  # a fresh (batch, seq, hidden) array
        x += self.position_type[:seq]
        x = self._norm(x.reshape(batch * seq, hidden), self.norm_w, self.norm_b)
        bias = None
        if mask is not None:  # padded keys get -1e9, so softmax gives them exactly 0
            bias = np.where(mask, np.float32(0.0), np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            qkv: Floats = x @ layer.qkv_w
            qkv += layer.qkv_b
            qkv4 = qkv.reshape(batch, seq, 3, heads, hidden // heads).transpose(2, 0, 3, 1, 4)
            scores: Floats = qkv4[0] @ qkv4[1].transpose(0, 1, 3, 2)  # (batch, heads, seq, seq)
            if bias is not None:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ qkv4[2]).transpose(0, 2, 1, 3).reshape(batch * seq, hidden)
            h: Floats = context @ layer.attn_out_w
            h += layer.attn_out_b
            h += x
            x = self._norm(h, layer.attn_norm_w, layer.attn_norm_b)
            inner: Floats = x @ layer.ffn_in_w
            inner += layer.ffn_in_b
            gelu_(inner)
            h = inner @ layer.ffn_out_w
            h += layer.ffn_out_b
            h += x
            x = self._norm(h, layer.ffn_norm_w, layer.ffn_norm_b)
        return x.reshape(batch, seq, hidden)
