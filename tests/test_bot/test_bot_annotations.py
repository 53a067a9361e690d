"""The saved auto-annotation switches: kept across loads, a damaged file means off everywhere."""

from pathlib import Path

import pytest

from bot.utils.annotations import AnnotatedChannels


def test_switches_survive_a_reload_and_damage_means_off(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "annotate-channels.json"
    channels = AnnotatedChannels.load(path, interval=60)
    assert not channels.is_on(1)
    channels.switch(1, 10, True)
    channels.switch(2, 10, True)
    channels.switch(2, 10, False)
    again = AnnotatedChannels.load(path, interval=60)
    assert again.is_on(1) and not again.is_on(2)
    assert again.may_annotate(1)
    again.mark(1, 555)
    assert not again.may_annotate(1) and again.marked[555] == ""
    path.write_text("[not, json", encoding="utf-8")
    damaged = AnnotatedChannels.load(path, interval=60)
    assert not damaged.is_on(1)
    assert "auto-annotation is off in every channel" in caplog.text
