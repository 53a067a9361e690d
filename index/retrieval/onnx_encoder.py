"""The embedding model run by onnxruntime, with int8 weights: faster on a CPU than torch.

The bundled sentence-transformers model is exported once to ONNX (torch's
TorchScript exporter), its graph fused by onnxruntime's transformer optimizer
(one Attention op per layer), smoothed, and its matrix products quantized to
int8 (``quantize_dynamic``: int8 weights per output channel, activations
quantized per batch on the fly).

Smoothing (SmoothQuant, Xiao et al. 2023) moves the few very large activation
channels into the weights: each product ``x @ W`` becomes ``(x / s) @ (s W)``,
with ``s`` per input channel from the largest activations seen on calibration
texts (the bundled corpus). The float result is unchanged; the int8 one loses
much less, because one per-tensor activation scale no longer has to span the
outliers. ``KEEP_FLOAT`` names the products still left in float32.

The files are cached in a folder the caller names, under a key made of the
model folder, its files, the versions of torch, transformers, onnx and
onnxruntime, the calibration texts and ``FORMAT``; each is written to a
temporary file and renamed into place, so a crash never leaves half a model
where a loader would take it.

At run time only onnxruntime and the model's own tokenizer (``tokenizer.json``)
are needed. Pooling is the model's: the mean of the token vectors over the
attention mask, then L2 normalisation, as sentence-transformers computes them.

``OnnxEncoder`` has the interface of ``Embedder`` (``name``, ``dim``,
``encode``, ``count_tokens``, ``max_tokens``). Its ``name`` carries the backend
and ``FORMAT`` (``all-MiniLM-L6-v2#onnx-int8-v2``), so its vectors never share
the embedding cache with the float32 model's, nor with an older recipe's.
``bench/onnx_int8.py`` measures its speed, its agreement with torch and the
retrieval quality.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.errors import ModelError
from index.retrieval.embedder import Progress, encode_in_chunks, resolve_model

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

log = logging.getLogger(__name__)

FORMAT = 2
"""Bump when the export, the optimisation or the quantisation changes: old files are not reused."""

KINDS = ("int8", "float32")

KEEP_FLOAT = re.compile(r"layer\.[02]/output/dense/MatMul$")
"""Matrix products left in float32 in the int8 model (matched against node names).

Quantized one at a time (after smoothing), the feed-forward output projections
of layers 0 and 2 cost the most cosine: their input, the GELU's output (1536
wide), keeps a heavy tail that smoothing only halves. Keeping them in float32
raises the smallest cosine with torch float32 from 0.992 to 0.996 (400 passages)
and costs about a tenth of the int8 speed (bench/onnx_int8.py).
"""

SMOOTH_ALPHA = 0.7
"""SmoothQuant's migration strength: 0.5 measured worse, 0.8 and 0.9 no better."""

BATCH_SIZE = 16
"""Texts per onnxruntime call for the float32 model: 8 and 16 measured a few percent
faster than 32 or 64.

The int8 model always runs one text per call: its activations are quantized with
one scale per call, so a text in a batch would get a vector that depends on the
texts beside it (and on their padding), and a question its answer on who else
asked at the same moment. To keep the cores busy without batches, it runs one
single-threaded call per core at once (onnxruntime sessions may be run from
several threads): 50 questions in 78 ms on 2 cores, against 126 ms one call at a
time on both cores and 80 ms in batches of 16."""

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def cache_key(model_dir: Path, kind: str) -> str:
    """What a cached file depends on: the model's files, the tools' versions, ``FORMAT``,
    and for int8 the quantization recipe and the calibration texts."""
    parts = [f"format={FORMAT}", f"kind={kind}", f"model={model_dir.resolve()}"]
    if kind == "int8":
        calibration = hashlib.sha256("\0".join(calibration_texts()).encode()).hexdigest()
        parts += [f"keep_float={KEEP_FLOAT.pattern}", f"alpha={SMOOTH_ALPHA}",
                  f"calibration={calibration}"]
    for file in sorted(model_dir.glob("*")):
        if file.is_file() and file.suffix in (".safetensors", ".bin", ".json", ".txt"):
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    for package in ("torch", "transformers", "onnxruntime", "onnx"):
        parts.append(f"{package}={_version(package)}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where exported models are kept unless told otherwise: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citebot" / "onnx"


def onnx_path(name: str, cache_dir: Path, kind: str = "int8") -> Path:
    """Where the ONNX file of model ``name`` at ``kind`` is cached (it may not exist yet)."""
    model_dir = Path(resolve_model(name))
    if not model_dir.is_dir():
        raise ModelError(f"the ONNX backend needs a local model folder; '{name}' is not one")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).name or "model")
    return cache_dir / f"{slug}-{cache_key(model_dir, kind)}-{kind}.onnx"


def build(name: str, cache_dir: Path, kind: str = "int8") -> Path:
    """The cached ONNX file for model ``name`` at ``kind``, exported and quantized if missing.

    Raises:
        ModelError: the model cannot be loaded or exported.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    target = onnx_path(name, cache_dir, kind)
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_dir = Path(resolve_model(name))
    fp32 = onnx_path(name, cache_dir, "float32")
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as tmp:
        work = Path(tmp)
        if not fp32.exists():
            # A warning so the terminal shows it: the first run waits ~20 s for this.
            log.warning("first use of %s here: exporting it to ONNX in %s "
                        "(once, about 20 s)", name, cache_dir)
            raw = work / "raw.onnx"
            heads, hidden = _export(model_dir, raw)
            optimized = work / "optimized.onnx"
            _optimize(raw, optimized, heads, hidden)
            _place(optimized, fp32)
        if kind == "int8":
            log.info("quantizing %s to int8 (once)", name)
            smoothed = work / "smoothed.onnx"
            _smooth(fp32, smoothed, _load_tokenizer(model_dir), _check_pipeline(model_dir))
            quantized = work / "int8.onnx"
            _quantize(smoothed, quantized)
            _place(quantized, target)
    _prune(fp32)
    _prune(target)
    return target


def _prune(kept: Path) -> None:
    """Delete the same model's files of the same kind made under older keys."""
    match = re.fullmatch(r"(.+)-[0-9a-f]{16}-(int8|float32)\.onnx", kept.name)
    if match is None or not kept.exists():
        return
    slug, kind = match.groups()
    same = re.compile(rf"{re.escape(slug)}-[0-9a-f]{{16}}-{kind}\.onnx")
    for old in kept.parent.glob(f"{glob.escape(slug)}-*-{kind}.onnx"):
        if old != kept and same.fullmatch(old.name):
            old.unlink(missing_ok=True)
            log.info("removed %s, made under an older key", old)


def _place(source: Path, target: Path) -> None:
    """Move a finished file into the cache atomically (same folder, so a rename)."""
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)


def _export(model_dir: Path, out: Path) -> tuple[int, int]:
    """Export the transformer (token vectors, before pooling) with dynamic batch and length."""
    import warnings

    import torch
    from transformers import AutoModel

    try:
        # Eager attention traces to plain MatMul/Softmax, which the optimizer fuses
        # into onnxruntime's Attention op; the SDPA path does not fuse.
        model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    except Exception as exc:  # transformers raises many kinds here
        raise ModelError(f"cannot load {model_dir} for the ONNX export: {exc}") from None

    class TokenVectors(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.m = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    # A padded row in the example, so that no "mask is all ones" shortcut is traced.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    axes = {n: {0: "batch", 1: "tokens"} for n in (*_INPUTS, "token_vectors")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                TokenVectors(model), (ids, mask, types), str(out),
                input_names=list(_INPUTS), output_names=["token_vectors"],
                dynamic_axes=axes, opset_version=17, dynamo=False,
            )
        except Exception as exc:  # the exporter raises many kinds
            raise ModelError(f"cannot export {model_dir} to ONNX: {exc}") from None
    config = model.config
    return int(config.num_attention_heads), int(config.hidden_size)


def _optimize(source: Path, out: Path, heads: int, hidden: int) -> None:
    """Fuse attention, GELU and layer norms with onnxruntime's BERT optimizer."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(source), model_type="bert", num_heads=heads,
                                     hidden_size=hidden)
    fused = model.get_fused_operator_statistics()
    log.info("ONNX fusions: %s", {k: v for k, v in fused.items() if v})
    model.save_model_to_file(str(out))


def calibration_texts() -> list[str]:
    """The paragraphs of the bundled corpus: what smoothing measures activations on."""
    from corpus import BUNDLED_DIR

    texts = []
    for file in sorted(BUNDLED_DIR.glob("*.md")):
        if file.name.lower() == "readme.md":
            continue
        body = file.read_text(encoding="utf-8").split("\n---", 1)[-1]
        texts.extend(p.strip() for p in body.split("\n\n") if len(p.strip()) >= 40)
    return texts


def _smooth(source: Path, out: Path, tokenizer: Tokenizer, max_length: int) -> None:
    """Scale each product's input channels down and its weight rows up (SmoothQuant)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    texts = sorted(calibration_texts(), key=len)
    if not texts:
        log.warning("no calibration texts (the bundled corpus is missing): not smoothing")
        shutil.copyfile(source, out)
        return
    model = onnx.load(str(source))
    weights = {w.name: w for w in model.graph.initializer}
    targets = [n for n in model.graph.node
               if n.op_type in ("MatMul", "Attention") and n.input[1] in weights]
    activations = sorted({n.input[0] for n in targets})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(
        helper.make_tensor_value_info(a, TensorProto.FLOAT, None) for a in activations)
    options = ort.SessionOptions()
    options.intra_op_num_threads = _cores()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    del probe
    inputs = {i.name for i in session.get_inputs()}
    tokenizer.enable_truncation(max_length)
    largest: dict[str, np.ndarray] = {}
    for begin in range(0, len(texts), 16):
        feed, _ = _feed(tokenizer.encode_batch(texts[begin : begin + 16]), 0, max_length)
        found = session.run(activations, {k: v for k, v in feed.items() if k in inputs})
        for name, value in zip(activations, found, strict=True):
            peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            largest[name] = np.maximum(largest[name], peak) if name in largest else peak
    tokenizer.no_truncation()
    nodes = []
    for node in model.graph.node:
        if node in targets:
            weight = numpy_helper.to_array(weights[node.input[1]])
            rows = np.abs(weight).max(axis=1)
            scale = (np.maximum(largest[node.input[0]], 1e-5) ** SMOOTH_ALPHA
                     / np.maximum(rows, 1e-5) ** (1 - SMOOTH_ALPHA))
            scale = np.clip(scale, 1e-3, 1e3).astype(np.float32)
            weights[node.input[1]].CopyFrom(numpy_helper.from_array(
                (weight * scale[:, None]).astype(np.float32), node.input[1]))
            inverse, scaled = f"{node.name}_smooth_inverse", f"{node.name}_smoothed"
            model.graph.initializer.append(
                numpy_helper.from_array((1.0 / scale).astype(np.float32), inverse))
            nodes.append(helper.make_node("Mul", [node.input[0], inverse], [scaled],
                                          name=f"{node.name}_smooth"))
            node.input[0] = scaled
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(out))


def _quantize(source: Path, out: Path) -> None:
    """Int8 weights (per output channel) for every matrix product but ``KEEP_FLOAT``'s."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and KEEP_FLOAT.search(n.name)]
    # The quantizer logs a line per tensor on the root logger; drop its records meanwhile.
    root = logging.getLogger()

    def quiet(record: logging.LogRecord) -> bool:
        return "quantization" not in record.pathname

    root.addFilter(quiet)
    try:
        quantize_dynamic(
            str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
            nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(quiet)


def _load_tokenizer(model_dir: Path) -> Tokenizer:
    """The model's fast tokenizer without padding or truncation (set per call here)."""
    from tokenizers import Tokenizer

    file = model_dir / "tokenizer.json"
    if file.exists():
        tokenizer = Tokenizer.from_file(str(file))
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir)).backend_tokenizer
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _read_json(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _check_pipeline(model_dir: Path) -> int:
    """The model's max_seq_length, after checking it is Transformer, mean pooling, Normalize."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = _read_json(model_dir / next(
        (m["path"] for m in modules if m["type"].endswith("Pooling")), "1_Pooling") / "config.json")
    if kinds != ["Transformer", "Pooling", "Normalize"] or not pooling.get(
            "pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens")):
        raise ModelError(f"the ONNX backend runs mean-pooled, normalised models only, "
                         f"not {model_dir} ({', '.join(kinds)})")
    config = _read_json(model_dir / "sentence_bert_config.json")
    length = config.get("max_seq_length")
    limit = _read_json(model_dir / "tokenizer_config.json").get("model_max_length", 512)
    if not isinstance(length, int):
        length = limit if isinstance(limit, int) and limit < 100_000 else 512
    elif isinstance(limit, int):
        length = min(length, limit)
    return int(length)


def _feed(encodings: Sequence[Encoding], pad: int,
          limit: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The model's inputs for one batch, padded to its longest text, and the mask."""
    width = max(min(len(e.ids), limit) for e in encodings)
    ids = np.full((len(encodings), width), pad, dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        n = min(len(enc.ids), limit)
        ids[row, :n] = enc.ids[:n]
        types[row, :n] = enc.type_ids[:n]
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, mask


class OnnxEncoder:
    """The embedding model as an onnxruntime session; ``Embedder``'s interface.

    Encoding is serialised by one lock, like ``Embedder``: one batch at a time
    uses all the cores.
    """

    def __init__(self, name: str, cache_dir: Path, kind: str = "int8",
                 batch_size: int = BATCH_SIZE, threads: int | None = None) -> None:
        """Load (exporting and quantizing first if the cache lacks it) the model.

        Raises:
            ModelError: the model cannot be found, exported or loaded.
        """
        import onnxruntime as ort

        model_dir = Path(resolve_model(name))
        if not (model_dir / "modules.json").exists():
            raise ModelError(f"the ONNX backend needs a local sentence-transformers folder; "
                             f"'{name}' is not one")
        self.max_length = _check_pipeline(model_dir)
        self.path = build(name, cache_dir, kind)
        self.kind = kind
        self.name = f"{name}#onnx-{'int8' if kind == 'int8' else 'fp32'}-v{FORMAT}"
        self.precision = kind
        self.device = "cpu"
        self.batch_size = 1 if kind == "int8" else batch_size
        self._workers = (threads or _cores()) if kind == "int8" else 1
        options = ort.SessionOptions()
        # int8: one thread per call, as many calls as cores (see BATCH_SIZE).
        options.intra_op_num_threads = 1 if kind == "int8" else (threads or _cores())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own kinds
            # Files are renamed into place whole, so this is damage on disk: make it again.
            log.warning("cannot load %s (%s); exporting it again", self.path, exc)
            self.path.unlink(missing_ok=True)
            self.path = build(name, cache_dir, kind)
            try:
                self._session = ort.InferenceSession(str(self.path), options,
                                                     providers=["CPUExecutionProvider"])
            except Exception as again:
                raise ModelError(f"cannot load {self.path}: {again}") from None
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self._tokenizer = _load_tokenizer(model_dir)
        # A second copy truncates at the model's length (the counting one must not).
        self._truncating = copy.deepcopy(self._tokenizer)
        self._truncating.enable_truncation(self.max_length)
        pad = self._tokenizer.token_to_id("[PAD]")
        special = _read_json(model_dir / "special_tokens_map.json").get("pad_token")
        if isinstance(special, str) and self._tokenizer.token_to_id(special) is not None:
            pad = self._tokenizer.token_to_id(special)
        self._pad = int(pad or 0)
        self._lock = threading.Lock()
        # Threads of its own, not the event loop's default executor: the calls wait
        # on no one, and a caller's thread pool may be busy (or be this encoder's caller).
        self._pool = (ThreadPoolExecutor(self._workers, thread_name_prefix="citebot-onnx")
                      if self._workers > 1 else None)
        log.info("model %s runs in onnxruntime (%s) from %s", name, kind, self.path)

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text, not counting its special tokens."""
        return self.max_length - 2

    def count_tokens(self, text: str) -> int:
        """How many word pieces ``text`` becomes, without special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _batch(self, encodings: Sequence[Encoding]) -> np.ndarray:
        """Unit vectors of one batch of tokenized texts (mean pooling, then L2)."""
        feed, mask = _feed(encodings, self._pad, self.max_length)
        tokens = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        summed = (tokens.astype(np.float32, copy=False) * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def encode(
        self,
        texts: Sequence[str],
        progress: Progress | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Embed texts as a (n, dim) float32 array of unit vectors."""
        # int8: one text per call, so a text's vector never depends on its neighbours.
        size = 1 if self.kind == "int8" else (batch_size or self.batch_size)

        def embed(chunk: list[str]) -> np.ndarray:
            with self._lock:
                encodings = self._truncating.encode_batch(chunk)
                # Within a chunk, batches of similar token counts keep padding small.
                inner = sorted(range(len(chunk)), key=lambda j: len(encodings[j].ids))
                groups = [inner[start : start + size] for start in range(0, len(inner), size)]
                batches = [[encodings[j] for j in rows] for rows in groups]
                if self._pool is None or len(batches) == 1:
                    vectors = [self._batch(batch) for batch in batches]
                else:
                    vectors = list(self._pool.map(self._batch, batches))
            out = np.zeros((len(chunk), self.dim), dtype=np.float32)
            for rows, got in zip(groups, vectors, strict=True):
                out[rows] = got
            return out

        return encode_in_chunks(texts, self.dim, max(size * 8, 64), embed, progress)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
