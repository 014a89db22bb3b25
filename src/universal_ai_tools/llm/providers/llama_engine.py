"""Synchronous generation on a llama.cpp context. Runs only on the embedded worker thread.

The token loop is written here instead of calling `create_chat_completion` so that we
count tokens exactly, stop between any two tokens when the client goes away, and hold
back text that could be the start of a stop string.
"""

from __future__ import annotations

import codecs
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

from universal_ai_tools.errors import BadRequest
from universal_ai_tools.llm.types import ChatDelta, ChatRequest, FinishReason, Timings, Usage

DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95


class ContextTooLong(BadRequest):
    code = "context_length_exceeded"


@dataclass
class GenerationJob:
    request: ChatRequest
    emit: Callable[[ChatDelta | BaseException], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: bool = False  # set once the last delta (finish_reason, usage) is emitted


class LlamaEngine:
    def __init__(self, model_path: Path, *, threads: int, context_size: int) -> None:
        started = time.perf_counter_ns()
        self.model_path = model_path
        self.llm = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=context_size,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.load_ns = time.perf_counter_ns() - started
        self.metadata: dict[str, str] = dict(self.llm.metadata)
        eos_id = self.llm.token_eos()
        bos_id = self.llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=self.metadata.get("tokenizer.chat_template", _CHATML),
            eos_token=self.llm._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=self.llm._model.token_get_text(bos_id) if bos_id != -1 else "",
        )
        self._json_grammar: LlamaGrammar | None = None

    @property
    def context_size(self) -> int:
        return int(self.llm.n_ctx())

    def close(self) -> None:
        self.llm.close()

    def prompt_tokens(self, request: ChatRequest) -> list[int]:
        messages: list[Any] = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.content or ""}
            for m in request.messages
        ]
        try:
            prompt = self._formatter(messages=messages).prompt
        except Exception as exc:  # jinja raises many types for messages the template rejects
            raise BadRequest(f"the messages do not fit the model's chat template: {exc}") from exc
        tokens: list[int] = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        return tokens

    def run(self, job: GenerationJob) -> None:
        """Generate for one job, emitting deltas; the last one has finish_reason and usage."""
        started = time.perf_counter_ns()
        request = job.request
        prompt = self.prompt_tokens(request)
        room = self.context_size - len(prompt)
        if room <= 0:
            raise ContextTooLong(
                f"the prompt is {len(prompt)} tokens; the model's context is "
                f"{self.context_size} tokens"
            )
        budget = min(request.max_tokens or room, room)
        self.llm.set_seed(request.seed if request.seed is not None else random.getrandbits(31))
        stops = StopMatcher(request.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generated = 0
        first_token_ns = 0
        finish: FinishReason = "length"
        previous = prompt[-1:]
        # Evaluate the whole prompt every time: reusing a cached prefix changes the batch
        # shapes and with them the logits, so the same request could answer differently.
        self.llm.reset()  # type: ignore[no-untyped-call]
        for token in self.llm.generate(
            prompt,
            temp=request.temperature if request.temperature is not None else DEFAULT_TEMPERATURE,
            top_p=request.top_p if request.top_p is not None else DEFAULT_TOP_P,
            grammar=self._grammar() if request.json_mode else None,
        ):
            if not first_token_ns:
                first_token_ns = time.perf_counter_ns()
            if job.cancelled.is_set():
                finish = "cancelled"
                break
            if llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token):
                finish = "stop"
                break
            generated += 1
            piece = self.llm.detokenize([token], prev_tokens=previous)
            previous = [token]
            text, stopped = stops.feed(decoder.decode(piece))
            if text:
                job.emit(ChatDelta(content=text))
            if stopped:
                finish = "stop"
                break
            if generated >= budget:
                break
        if finish != "cancelled" and not stops.matched:
            text, stopped = stops.feed(decoder.decode(b"", final=True))
            tail = text if stopped else text + stops.flush()
            finish = "stop" if stopped else finish
            if tail:
                job.emit(ChatDelta(content=tail))
        ended = time.perf_counter_ns()
        first_token_ns = first_token_ns or ended
        job.finished = finish != "cancelled"
        job.emit(
            ChatDelta(
                finish_reason=finish,
                usage=Usage(prompt_tokens=len(prompt), completion_tokens=generated),
                timings=Timings(
                    load_ns=0,
                    prompt_eval_ns=first_token_ns - started,
                    eval_ns=ended - first_token_ns,
                ),
            )
        )

    def _grammar(self) -> LlamaGrammar:
        if self._json_grammar is None:
            self._json_grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return self._json_grammar

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.metadata.get("general.architecture", ""),
            "size_label": self.metadata.get("general.size_label", ""),
            "file_type": self.metadata.get("general.file_type", ""),
            "context_length": self.metadata.get(
                f"{self.metadata.get('general.architecture', 'llama')}.context_length", ""
            ),
            "template": self._formatter.template,
        }


class StopMatcher:
    """Finds stop strings across token boundaries, holding back possible prefixes."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.matched = False

    def feed(self, text: str) -> tuple[str, bool]:
        if not self.stops:
            return text, False
        self.pending += text
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.matched = True
            out, self.pending = self.pending[: min(hits)], ""
            return out, True
        keep = self._longest_stop_prefix_suffix()
        cut = len(self.pending) - keep
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out

    def _longest_stop_prefix_suffix(self) -> int:
        best = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), best, -1):
                if self.pending.endswith(stop[:size]):
                    best = size
                    break
        return best


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
