"""Shared fixtures: the real model (loaded once per session) and real settings in temp dirs."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from index.config import ModelSettings, Settings, load_settings
from index.retrieval.embedder import Embedder, Encoder, load_encoder
from index.retrieval.engine import Engine
from tests.postgres import pg_server, pg_url  # noqa: F401 - fixtures for every test

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_settings(data_dir: Path, **sections: dict[str, object]) -> Settings:
    """Default settings with the data directory (and any section fields) replaced."""
    settings = load_settings(environ={})
    settings = dataclasses.replace(
        settings, index=dataclasses.replace(settings.index, data_dir=str(data_dir))
    )
    for name, fields in sections.items():
        section = getattr(settings, name)
        settings = dataclasses.replace(settings, **{name: dataclasses.replace(section, **fields)})
    return settings


@pytest.fixture(scope="session")
def embedder() -> Encoder:
    """The real all-MiniLM-L6-v2 as the default settings load it, once for the session."""
    return load_encoder(ModelSettings())


@pytest.fixture(scope="session")
def torch_embedder(embedder: Encoder) -> Embedder:
    """The same model on torch at float32, for tests that compare backends or precisions:
    the session's own model when that already is it."""
    if isinstance(embedder, Embedder) and embedder.precision == "float32":
        return embedder
    settings = ModelSettings()
    return Embedder(settings.name, settings.device, settings.batch_size, "float32")


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the index of the bundled corpus, shared read-only."""
    return tmp_path_factory.mktemp("shared-data")


@pytest.fixture(scope="session")
def engine(embedder: Encoder, shared_data_dir: Path) -> Engine:
    """An engine over the bundled corpus with its index on disk in a temp dir."""
    return Engine.open(make_settings(shared_data_dir), embedder=embedder)


SMALL = """---
title: Quinoa in the south
author: Test Writer
---

Quinoa farmers around Lake Titicaca expect a larger harvest after a wet season.
"""
"""One short article, for tests that want a corpus other than the bundled one."""


@pytest.fixture
def small_engine(tmp_path: Path, embedder: Encoder) -> Engine:
    """An engine over one small article (not the bundled corpus), in a temp data dir."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "quinoa.md").write_text(SMALL, encoding="utf-8")
    settings = make_settings(tmp_path / "data", corpus={"bundled": False, "dirs": [str(corpus)]})
    return Engine.open(settings, embedder=embedder)


@pytest.fixture
def run_cli_process(
    shared_data_dir: Path, engine: Engine
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m citebot`` as a subprocess against the shared (pre-built) data dir.

    For the few tests of the command as the operating system runs it; the others use
    ``run_cli``, the same command in this process (no second model load, no imports).
    """

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
        full_env["CITEBOT_DATA_DIR"] = str(shared_data_dir)
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "citebot", *args],
            input=stdin, capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=timeout,
        )

    return run


def cli_in_process(monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str]
                   ) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A runner of ``citebot.cli.main(argv)`` in this process as ``python -m citebot`` would
    run: ``CITEBOT_*`` cleared and ``base_env`` set, its own stdin, stdout and stderr, a root
    logger of its own, and the exit code it would return (no second model load, no imports)."""
    from transformers.utils import logging as transformers_logging

    from citebot.cli import main

    # A new process reads HF_HUB_DISABLE_PROGRESS_BARS (set by the CLI) before transformers
    # is imported; here transformers is already loaded, so switch its bars off directly.
    transformers_logging.disable_progress_bar()

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("CITEBOT_")]:
                patch.delenv(key)
            for key, value in {**base_env, **(env or {})}.items():
                patch.setenv(key, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
            patch.setattr(sys, "stdout", out)
            patch.setattr(sys, "stderr", err)
            patch.chdir(ROOT)
            root.handlers = []  # as in a new process: main's basicConfig takes effect
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                for handler in root.handlers:
                    handler.close()
                root.handlers, _ = saved
                root.setLevel(saved[1])
        return subprocess.CompletedProcess(["citebot", *args], code, out.getvalue(),
                                           err.getvalue())

    return run


@pytest.fixture
def run_cli(
    shared_data_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The citebot command in this process, against the shared (pre-built) data dir."""
    return cli_in_process(monkeypatch, {"CITEBOT_DATA_DIR": str(shared_data_dir)})
