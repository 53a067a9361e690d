"""The README stays in step with the command line."""


from citebot.cli import build_parser
from tests import paths

ROOT = paths.ROOT


def test_readme_documents_every_command() -> None:
    """Each citebot subcommand appears in the README as `citebot NAME`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    helps = {action.dest: action.help for action in subcommands._choices_actions}
    assert set(helps) == set(subcommands.choices)
    for name in subcommands.choices:
        assert f"citebot {name}" in readme, name
        assert helps[name] and len(helps[name]) > 10, f"citebot {name} has no help text"


def test_readme_opens_with_the_two_commands() -> None:
    """The first code block sets up and asks; the second sets up and runs the tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```")[1::2]
    assert "citebot ask" in blocks[0] and "constraints.txt" in blocks[0]
    assert "pytest" in blocks[1] and "constraints.txt" in blocks[1]
