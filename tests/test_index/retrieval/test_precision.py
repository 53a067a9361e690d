"""The model's precision: bfloat16 only where the CPU has it, and vectors that agree."""

from __future__ import annotations

import numpy as np

from index.config import ModelSettings
from index.retrieval.embedder import Embedder, choose_precision, native_bfloat16


def test_auto_is_bfloat16_exactly_where_the_cpu_computes_it() -> None:
    """"auto" never picks an emulated bfloat16 (slower than float32), and never on a GPU."""
    expected = "bfloat16" if native_bfloat16("cpu") else "float32"
    assert choose_precision("auto", "cpu") == expected
    assert choose_precision("auto", "cuda") == "float32"
    assert choose_precision("float32", "cpu") == "float32"


def test_bfloat16_vectors_agree_with_float32(torch_embedder: Embedder) -> None:
    """Vectors computed at either precision share the index and the embedding cache,
    so they must point the same way (bench/precision.py measures the retrieval quality)."""
    texts = ["What are the demonstrators demanding?",
             "Protesters blocked the highway near Juliaca for three days, demanding the "
             "resignation of the president and new elections."]
    settings = ModelSettings()
    second = Embedder(settings.name, settings.device, settings.batch_size, "bfloat16")
    assert torch_embedder.precision == "float32" and second.precision == "bfloat16"
    a, b = torch_embedder.encode(texts), second.encode(texts)
    assert a.dtype == b.dtype == np.float32
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
