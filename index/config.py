"""Settings: one validated object built at start-up from a TOML file and the environment.

The file is found through ``--config`` or ``CITEBOT_CONFIG``; without either the
defaults apply. Every key is checked: an unknown key or a value of the wrong type
is rejected with a message that names it, so a typo never silently does nothing.
``config.example.toml`` documents each setting; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PRECISIONS = ("auto", "float32", "bfloat16")
BACKENDS = ("auto", "torch", "onnx-int8")


@dataclass(frozen=True)
class ModelSettings:
    """Which sentence-transformers model embeds passages and questions."""

    name: str = DEFAULT_MODEL
    device: str = "cpu"
    batch_size: int = 32
    precision: str = "auto"
    """float32, bfloat16, or auto: bfloat16 where the CPU computes it natively."""
    backend: str = "auto"
    """torch, onnx-int8 (onnxruntime, int8 weights), or auto: onnx-int8 for the bundled
    model on a CPU where onnxruntime is installed, torch otherwise."""


@dataclass(frozen=True)
class CorpusSettings:
    """Where the articles come from."""

    bundled: bool = True
    dirs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IndexSettings:
    """Where the index lives and how articles are cut into passages."""

    data_dir: str = ""
    max_passage_tokens: int = 128
    embed_title: bool = True
    approximate_from: int = 50_000
    """Rows from which a vector index is searched approximately (0: always exactly);
    see index.retrieval.ann.ivf for the measurements behind the number."""
    follow_seconds: float = 1.0
    """How often a serving process checks whether another process on the data directory
    published a change (index.retrieval.following); with the log on PostgreSQL, NOTIFY
    brings changes at once and the check runs four times less often."""


@dataclass(frozen=True)
class SearchSettings:
    """How results are ranked, fused and cut off.

    The defaults were tuned on SciFact's train judgments and the abstain
    threshold calibrated as docs/calibration.md describes.
    """

    top_k: int = 5
    candidates: int = 100
    fusion: str = "zscore"
    dense_weight: float = 0.6
    sentence_weight: float = 0.7
    feedback: float = 0.2
    min_score: float = 0.32
    unknown_names: bool = True
    """Decline a question naming something no article mentions (index.retrieval.names)."""
    multilingual: bool = True
    """Answer questions in other languages with the multilingual leg (retrieval.multilingual)."""
    multilingual_min_score: float = 0.17
    """The abstain threshold on the multilingual leg's cosine (its own scale)."""


@dataclass(frozen=True)
class IngestSettings:
    """How articles are added: fetch limits and duplicate detection."""

    allow_hosts: list[str] = field(default_factory=list)
    fetch_timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    near_duplicate: float = 0.6


@dataclass(frozen=True)
class LogSettings:
    """The conversation log: where it lives, how long rows are kept, how users are named."""

    enabled: bool = True
    path: str = ""
    url: str = ""
    """A database URL (``sqlite:///file`` or ``postgresql://user@host/db``); empty: the
    SQLite file at ``path``. PostgreSQL lets several processes share one log."""
    retention_days: int = 0
    hash_user_ids: bool = False
    queue_size: int = 10_000


@dataclass(frozen=True)
class DiscordSettings:
    """The Discord bot (``citebot serve``). Plain data: ``index`` never imports discord."""

    token: str = ""
    dev_guilds: list[str] = field(default_factory=list)
    moderator_roles: list[str] = field(default_factory=list)
    ask_channels: list[str] = field(default_factory=list)
    message_content: bool = False
    dms: bool = True
    citations: int = 3
    find_sources_reply: str = "ephemeral"
    cooldown_seconds: float = 3.0
    max_pending: int = 256
    max_wait_seconds: float = 10.0
    shutdown_grace_seconds: float = 10.0
    auto_annotate: bool = False
    annotate_min_similarity: float = 0.55
    annotate_interval_seconds: float = 120.0
    shard_ids: list[int] = field(default_factory=list)
    """The shards this process runs; empty: every shard (0 to ``shard_count`` - 1)."""
    shard_count: int = 0
    """The shards of the whole bot, across processes; 0: the count Discord recommends."""


@dataclass(frozen=True)
class Settings:
    """Every setting citebot reads, grouped as in config.example.toml."""

    model: ModelSettings = field(default_factory=ModelSettings)
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    source: str = ""

    @property
    def data_dir(self) -> Path:
        """The data directory: the setting, or the platform's user data folder."""
        if self.index.data_dir:
            return Path(self.index.data_dir).expanduser()
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "citebot"

    @property
    def log_path(self) -> Path:
        """The log database: the setting, or ``logs.sqlite`` in the data directory."""
        if self.logs.path:
            return Path(self.logs.path).expanduser()
        return self.data_dir / "logs.sqlite"

    def corpus_dirs(self) -> list[Path]:
        """The folders of corpus files to index, the bundled corpus first."""
        dirs: list[Path] = []
        if self.corpus.bundled:
            from corpus import BUNDLED_DIR

            dirs.append(BUNDLED_DIR)
        dirs.extend(Path(d).expanduser() for d in self.corpus.dirs)
        return dirs


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from a TOML file (if any) and the environment.

    Args:
        path: the config file; when None, ``CITEBOT_CONFIG`` names it, and
            without that the defaults apply.
        environ: the environment to read (``os.environ`` when None).

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or
            holds an unknown key or a value of the wrong type.
    """
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get("CITEBOT_CONFIG") or None
    raw: dict[str, Any] = {}
    source = ""
    if chosen is not None:
        file = Path(chosen).expanduser()
        try:
            with file.open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(
                f"config file {file} does not exist; copy config.example.toml there "
                "or leave out --config/CITEBOT_CONFIG to use the defaults"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
        source = str(file)
    settings = _build(Settings, raw, "")
    if env.get("CITEBOT_DATA_DIR"):
        settings = dataclasses.replace(
            settings, index=dataclasses.replace(settings.index, data_dir=env["CITEBOT_DATA_DIR"])
        )
    if env.get("CITEBOT_ALLOW_HOSTS"):
        extra = [h.strip() for h in env["CITEBOT_ALLOW_HOSTS"].split(",") if h.strip()]
        settings = dataclasses.replace(settings, ingest=dataclasses.replace(
            settings.ingest, allow_hosts=[*settings.ingest.allow_hosts, *extra]))
    settings = dataclasses.replace(settings, source=source)
    _check_values(settings)
    return settings


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, rejecting unknown keys and wrong types."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"config: [{where}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if key not in known:
            choices = ", ".join(f"{prefix}{k}" for k in known)
            raise ConfigError(f"config: unknown setting '{name}' (known here: {choices})")
        expected = hints[key]
        if dataclasses.is_dataclass(expected):
            values[key] = _build(expected, value, f"{name}.")
        else:
            values[key] = _check_type(name, value, expected)
    return cls(**values)


def _check_type(name: str, value: Any, expected: Any) -> Any:
    origin = typing.get_origin(expected)
    if origin is list:
        (item,) = typing.get_args(expected)
        if not isinstance(value, list) or not all(_is(v, item) for v in value):
            raise ConfigError(f"config: '{name}' must be a list of {item.__name__}")
        return list(value)
    if origin in (typing.Union, types.UnionType):
        if any(_is(value, t) for t in typing.get_args(expected)):
            return value
        raise ConfigError(f"config: '{name}' has the wrong type ({type(value).__name__})")
    if not _is(value, expected):
        article = "an" if expected.__name__[0] in "aeiou" else "a"
        raise ConfigError(
            f"config: '{name}' must be {article} {expected.__name__}, "
            f"not {type(value).__name__} ({value!r})"
        )
    return float(value) if expected is float else value


def _is(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check_values(settings: Settings) -> None:
    """Range checks that types alone cannot express."""
    checks = [
        (settings.model.batch_size >= 1, "model.batch_size must be at least 1"),
        (
            settings.model.precision in PRECISIONS,
            "model.precision must be one of auto, float32, bfloat16",
        ),
        (
            settings.model.backend in BACKENDS,
            "model.backend must be one of auto, torch, onnx-int8",
        ),
        (
            16 <= settings.index.max_passage_tokens <= 512,
            "index.max_passage_tokens must be between 16 and 512",
        ),
        (settings.index.approximate_from >= 0, "index.approximate_from must be 0 or more"),
        (0.1 <= settings.index.follow_seconds <= 3600,
         "index.follow_seconds must be between 0.1 and 3600"),
        (1 <= settings.search.top_k <= 50, "search.top_k must be between 1 and 50"),
        (settings.search.candidates >= 10, "search.candidates must be at least 10"),
        (
            settings.search.fusion in ("tmm", "zscore", "minmax", "rrf"),
            "search.fusion must be one of tmm, zscore, minmax, rrf",
        ),
        (0.0 <= settings.search.dense_weight <= 1.0, "search.dense_weight must be in [0, 1]"),
        (
            0.0 <= settings.search.sentence_weight <= 1.0,
            "search.sentence_weight must be in [0, 1]",
        ),
        (0.0 <= settings.search.feedback < 1.0, "search.feedback must be in [0, 1)"),
        (settings.ingest.fetch_timeout > 0, "ingest.fetch_timeout must be positive"),
        (settings.ingest.max_bytes >= 1000, "ingest.max_bytes must be at least 1000"),
        (0 <= settings.ingest.max_redirects <= 20, "ingest.max_redirects must be 0-20"),
        (0.0 < settings.ingest.near_duplicate <= 1.0, "ingest.near_duplicate must be in (0, 1]"),
        (-1.0 <= settings.search.min_score <= 1.0, "search.min_score must be in [-1, 1]"),
        (settings.logs.retention_days >= 0, "logs.retention_days must be 0 (keep) or more"),
        (settings.logs.url == "" or settings.logs.url.startswith(
            ("sqlite:", "postgresql://", "postgres://")),
         "logs.url must be empty, sqlite:///path/to/file or postgresql://user@host/database"),
        (settings.logs.queue_size >= 100, "logs.queue_size must be at least 100"),
        (1 <= settings.discord.citations <= 10, "discord.citations must be between 1 and 10"),
        (settings.discord.find_sources_reply in ("ephemeral", "thread"),
         "discord.find_sources_reply must be ephemeral or thread"),
        (settings.discord.cooldown_seconds >= 0, "discord.cooldown_seconds must be 0 or more"),
        (settings.discord.max_pending >= 1, "discord.max_pending must be at least 1"),
        (0 < settings.discord.max_wait_seconds <= 600,
         "discord.max_wait_seconds must be more than 0 and at most 600"),
        (0 <= settings.discord.shutdown_grace_seconds <= 600,
         "discord.shutdown_grace_seconds must be between 0 and 600"),
        (-1.0 <= settings.discord.annotate_min_similarity <= 1.0,
         "discord.annotate_min_similarity must be in [-1, 1]"),
        (settings.discord.annotate_interval_seconds >= 0,
         "discord.annotate_interval_seconds must be 0 or more"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config: {message}")
    problem = shard_problem(settings.discord.shard_ids, settings.discord.shard_count)
    if problem:
        raise ConfigError(f"config: {problem}")


def shard_problem(ids: typing.Sequence[int], count: int, ids_name: str = "discord.shard_ids",
                  count_name: str = "discord.shard_count") -> str | None:
    """What is wrong with running shards ``ids`` of ``count``, worded with the names the
    user gave them (settings or command-line flags), or None when nothing is.

    Discord refuses a shard id outside 0 to count - 1 (close code 4010) only once the
    bot connects; checked here, the mistake is named before anything is loaded.
    """
    if count < 0:
        return f"{count_name} must be 0 (the count Discord recommends) or more"
    if not ids:
        return None
    if count == 0:
        return (f"{ids_name} needs {count_name}: set it to the number of shards across all "
                "processes (each process runs some of them)")
    if len(set(ids)) != len(ids):
        return f"{ids_name} lists a shard more than once"
    wrong = [i for i in ids if not 0 <= i < count]
    if wrong:
        return (f"{ids_name} has shard {wrong[0]}, but with {count_name} {count} the shard "
                f"ids run from 0 to {count - 1}")
    return None
