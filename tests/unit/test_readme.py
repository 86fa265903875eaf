"""The README keeps its contract: two set-up commands first, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

from hub.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_opens_with_exactly_the_two_setup_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.strip()]
    assert commands == ["make run", "make test"]
    assert text.index("```sh") < text.index("## ")


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text()
    missing = [n for n in Settings.model_fields if f"`CAREHUB_{n.upper()}`" not in text]
    assert missing == [], f"settings missing from README: {missing}"
