"""The commands of the documentation's pages, as the test runs them (docs/internals/docs.md).

Every ```bash block of every page under docs/ is a list of shell commands a reader may type.
A block right after an HTML comment `<!-- not run: REASON -->` is shown only (REASON is
required: say what it needs that a test machine has not, e.g. Docker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^(?P<marker>[ \t]*<!--\s*not run:(?P<reason>[^>]*?)-->\s*\n)?"
                   r"```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
# The commands that run until stopped, and the line each prints once it serves.
LONG_RUNNING = {"serve": "endpoint: ", "demo": "dashboard: ", "bridge": "bridging "}


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    commands: list[str] = field(default_factory=list)
    not_run: str | None = None  # the reason, for a block shown only

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(DOCS)}:{self.line}"


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def blocks(page: Path) -> list[Block]:
    """The page's ```bash blocks, each as its commands (continuation lines and here-documents
    joined into one command)."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match["lang"] not in ("bash", "sh", "shell"):
            continue
        line = text.count("\n", 0, match.start("lang")) + 1
        reason = match["reason"].strip() if match["marker"] else None
        if match["marker"] is not None and not reason:
            raise ValueError(f"{page}:{line}: `not run:` needs a reason")
        if any(text.lstrip().startswith("```") for text in match["body"].splitlines()):
            raise ValueError(f"{page}:{line}: a fence inside the block: is it closed on a line "
                             "of its own?")
        found.append(Block(page, line, commands(match["body"]), reason))
    return found


def commands(body: str) -> list[str]:
    result: list[str] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        command = lines[i]
        while command.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command.rstrip()[:-1].rstrip() + " " + lines[i].strip()
        if heredoc := HEREDOC.search(command):
            while i + 1 < len(lines):
                i += 1
                command += "\n" + lines[i]
                if lines[i].strip() == heredoc.group(1):
                    break
        i += 1
        if command.strip() and not command.lstrip().startswith("#"):
            result.append(command)
    return result


def long_running(command: str) -> str | None:
    """The ready text of a factory-sim command that serves until stopped, else None."""
    words = command.split()
    if len(words) >= 2 and words[0] == "factory-sim":
        return LONG_RUNNING.get(words[1])
    return None


def in_background(command: str) -> bool:
    return command.rstrip().endswith("&") and not command.rstrip().endswith("&&")
