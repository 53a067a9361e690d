"""Configuration: found by flag or environment, validated by name and type."""

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from index.config import Settings, load_settings
from index.errors import ConfigError
from tests import paths

ROOT = paths.ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "citebot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    """No --config and no CITEBOT_CONFIG means the documented defaults."""
    settings = load_settings(environ={})
    assert settings.model.name == "all-MiniLM-L6-v2"
    assert settings.search.top_k == 5


def test_file_from_environment_and_data_dir_override(tmp_path: Path) -> None:
    """CITEBOT_CONFIG names the file; CITEBOT_DATA_DIR beats index.data_dir."""
    path = write(tmp_path, '[search]\ntop_k = 3\n[index]\ndata_dir = "/nowhere"\n')
    settings = load_settings(environ={"CITEBOT_CONFIG": str(path),
                                      "CITEBOT_DATA_DIR": str(tmp_path / "d")})
    assert settings.search.top_k == 3
    assert settings.data_dir == tmp_path / "d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[search]\ntop_kk = 3\n", "unknown setting 'search.top_kk'"),
        ("[serch]\ntop_k = 3\n", "unknown setting 'serch'"),
        ('[search]\ntop_k = "five"\n', "'search.top_k' must be an int"),
        ("[search]\ntop_k = true\n", "'search.top_k' must be an int"),
        ("[corpus]\ndirs = [1, 2]\n", "'corpus.dirs' must be a list of str"),
        ("search = 3\n", r"\[search\] must be a table"),
        ("[search]\ntop_k = 0\n", "top_k must be between 1 and 50"),
        ('[search]\nfusion = "magic"\n', "search.fusion must be one of"),
        ('[model]\nprecision = "float16"\n', "model.precision must be one of"),
        ("[search\n", "not valid TOML"),
    ],
)
def test_invalid_settings_are_rejected_by_name(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake is rejected with a message naming the setting."""
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A config path that does not exist says so and what to do."""
    with pytest.raises(ConfigError, match=r"does not exist; copy config\.example\.toml"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_example_config_documents_every_setting_and_loads() -> None:
    """config.example.toml names exactly the settings the schema has, with their defaults."""
    example = ROOT / "config.example.toml"
    raw = tomllib.loads(example.read_text(encoding="utf-8"))
    defaults = Settings()
    schema = {f.name for f in dataclasses.fields(Settings) if f.name != "source"}
    assert set(raw) == schema
    for section in schema:
        fields = {f.name for f in dataclasses.fields(getattr(defaults, section))}
        assert set(raw[section]) == fields, section
        for key, value in raw[section].items():
            assert getattr(getattr(defaults, section), key) == value, f"{section}.{key}"
    text = example.read_text(encoding="utf-8")
    for section in schema:
        for key in raw[section]:
            assert re.search(rf"#.*\n(#.*\n)*{key} =", text), f"{section}.{key} has no comment"
    assert load_settings(example, environ={}).model.name == defaults.model.name
