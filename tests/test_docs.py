"""The docs follow the code: README.md and docs/*.md are checked, not only read.

1. every command and option of `kam --help` (the whole click tree) is in the docs;
2. every shell example runs: the `kam` lines of each ```sh, ```bash and ```console block run
   against a temporary copy of the project and its examples, and exit 0 (or the code the
   block shows after them with `echo $?`). A block that is not an example to run says so in
   its fence, and its `kam` lines are still checked against `--help`:
     ```sh synopsis                 the form of a command, with placeholders
     ```sh no-run: <reason>         an example that cannot run in a test (make, pip, a cluster,
                                    your own files), with the reason on the same line;
3. every path of the repository named in backticks exists (a glob matches something), and
   every path in docs/architecture.md's picture;
4. relative links and images lead to a file, and an anchor to a heading of it.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = ("sh", "bash", "console")
# what a temporary copy of the project holds: the project bundled with kam and its examples
PROJECT = ("kam.yaml", "rules", "playbooks", "templates", "examples")
# the lines a runnable block may have besides `kam ...`: the test already runs the venv's kam
ALREADY_DONE = {"source .venv/bin/activate"}


def _text() -> str:
    return "\n".join(p.read_text("utf-8") for p in PAGES)


def _fences(path: Path):
    """(line number, info string, body lines) of every fenced block of a page."""
    lines = path.read_text("utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(.*)$", lines[i])
        if m:
            start, info, body = i + 1, m.group(1).strip(), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield start, info, body
        i += 1


def _shell_blocks():
    for path in PAGES:
        for line, info, body in _fences(path):
            if info.split(" ", 1)[0] in SHELLS:
                yield pytest.param(path, info, body, id=f"{path.relative_to(ROOT)}:{line}")


def _commands():
    """(path, click command) of every command, the root included."""
    def walk(cmd, path):
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(sub, [*path, name])
    return list(walk(main, []))


# ---- 1. every command and option is documented --------------------------------------------------

def test_every_command_and_option_of_the_help_is_in_the_docs():
    text = _text()
    commands = _commands()
    assert len(commands) > 12  # kam, its commands, and the group kam plans with its own
    missing = []
    for path, cmd in commands:
        name = " ".join(["kam", *path])
        if path and name not in text:
            missing.append(name)
        for param in cmd.params:
            if not isinstance(param, click.Option):
                continue
            for opt in (*param.opts, *param.secondary_opts):
                if opt in ("--help", "-h"):
                    continue
                if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text):
                    missing.append(f"{name} {opt}")
    assert not missing, f"in `--help` but in neither README.md nor docs/*.md: {missing}"


# ---- 2. every shell example runs -----------------------------------------------------------------

def _logical_lines(body: list[str], console: bool) -> list[tuple[str, list[str]]]:
    """The commands of a block, continuation lines joined, each with the output lines after it
    (console blocks: commands start with '$ '; sh blocks: every line is a command, a line that
    starts with blanks continues the one before)."""
    out: list[tuple[str, list[str]]] = []
    for line in body:
        if console:
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
        elif not line.strip():
            continue
        elif line[0].isspace() and out:
            out[-1] = (out[-1][0] + " " + line.strip(), [])
        elif line.rstrip().endswith("\\"):
            out.append((line.rstrip()[:-1], []))
        else:
            out.append((line, []))
    return out


def _kam_segments(command: str) -> list[list[str]]:
    """The `kam ...` commands of a line, as words without the comment ('a | kam b' is two)."""
    words = shlex.split(command, comments=True)
    segments, cur = [], []
    for i, w in enumerate(words):
        if w == "|" and cur and words[i + 1:i + 2] == ["kam"]:
            segments.append(cur)
            cur = []
        else:
            cur.append(w)
    if cur:
        segments.append(cur)
    return [s for s in segments if s and s[0] == "kam"]


def _check_against_help(words: list[str]) -> None:
    """`kam SUB... --opt` names a command and options that exist."""
    cmd, path = main, []
    options = {"--help", *(o for p in main.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts))}
    for w in words[1:]:
        if isinstance(cmd, click.Group) and w in cmd.commands:
            cmd = cmd.commands[w]
            path.append(w)
            options |= {o for p in cmd.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
        elif not w.startswith("-"):
            break
    assert path or "--help" in words or "--version" in words, f"no kam command in {' '.join(words)!r}"
    for w in words:
        for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", w):
            assert opt in options, f"{' '.join(words)!r}: kam {' '.join(path)} has no option {opt}"


def _kam() -> list[str]:
    exe = Path(sys.executable).parent / "kam"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("kam")
    assert found, "the kam command is not installed (pip install -e .)"
    return [found]


@pytest.mark.parametrize("path, info, body", list(_shell_blocks()))
def test_every_shell_example_runs(path, info, body, tmp_path):
    kind, _, mark = info.partition(" ")
    console = kind == "console"
    commands = _logical_lines(body, console)
    assert commands, "an empty shell block"
    for command, _ in commands:
        for words in _kam_segments(command):
            _check_against_help(words)
    if mark.startswith("no-run"):
        reason = mark[len("no-run"):].lstrip(":").strip()
        assert reason, "a block marked no-run says why on the same line: ```sh no-run: <reason>"
        return
    if mark == "synopsis":
        return
    assert not mark, f"unknown mark {mark!r}: a shell block is run, or marked 'synopsis' or 'no-run: <reason>'"

    copy = tmp_path / "project"
    copy.mkdir()
    for name in PROJECT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, copy / name)
    env = {k: v for k, v in os.environ.items() if k != "KAM_STORE"}
    cwd = copy
    i = 0
    while i < len(commands):
        command, _ = commands[i]
        expected = 0
        if console and i + 1 < len(commands) and commands[i + 1][0].strip() == "echo $?":
            expected = int(commands[i + 1][1][0])  # the code the block shows
        stripped = command.split("#", 1)[0].strip() if not command.lstrip().startswith("kam") else command
        if stripped in ALREADY_DONE:
            i += 1
            continue
        if stripped.startswith("cd "):
            cwd = (cwd / stripped[3:].strip()).resolve()
            assert cwd.is_relative_to(copy), command
            i += 1 + (expected != 0)
            continue
        words = shlex.split(command, comments=True)
        assert words and words[0] == "kam", (
            f"{command!r} is not a kam command: run it some other way, or mark the block "
            "```sh no-run: <reason>")
        r = subprocess.run([*_kam(), *words[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == expected, (
            f"{command}\nexit {r.returncode}, expected {expected}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        i += 2 if console and i + 1 < len(commands) and commands[i + 1][0].strip() == "echo $?" else 1


def test_blocks_that_do_not_run_are_few():
    """A no-run mark is an exception with a reason; most examples run."""
    marks = [info for p in PAGES for _, info, _ in _fences(p)
             if info.split(" ", 1)[0] in SHELLS and " no-run" in info]
    runs = [info for p in PAGES for _, info, _ in _fences(p)
            if info.split(" ", 1)[0] in SHELLS and " " not in info]
    assert len(marks) <= 6, marks
    assert runs, "no shell example runs"


# ---- 3. paths in the docs exist ------------------------------------------------------------------

def _generated() -> list[str]:
    """Folders .gitignore keeps out of the repository: the docs may name what runs put there."""
    # every folder, top-level ones (out/, .kam/) too: a working tree after `make demo` has them,
    # a clean clone does not, and the test must say the same in both
    return [line.strip().lstrip("/") for line in (ROOT / ".gitignore").read_text("utf-8").splitlines()
            if line.strip().endswith("/") and not line.strip().startswith("#")]


def _top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir() if p.name not in (".git", ".venv") and not p.name.endswith(".egg-info")}


def _exists(path: str) -> bool:
    path = path.rstrip("/")
    if any(c in path for c in "*<"):
        return any(ROOT.glob(re.sub(r"<[^>]*>", "*", path)))
    return (ROOT / path).exists()


def _prose(text: str) -> str:
    """The text of a page outside its fenced blocks."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)


def _repo_paths(span: str, top: set[str]) -> str | None:
    span = re.sub(r"(:\d+)+$", "", span)  # file:line:col
    if not span or any(c.isspace() for c in span) or span.startswith(("/", "$", "-")):
        return None
    first = span.split("/", 1)[0]
    if first not in top or ("/" not in span and not (ROOT / span).is_file()):
        return None
    return span


def test_every_repository_path_in_backticks_exists():
    top = _top_level()
    generated = _generated()
    missing = []
    checked = 0
    for page in PAGES:
        for span in re.findall(r"`([^`\n]+)`", _prose(page.read_text("utf-8"))):
            path = _repo_paths(span.strip(), top)
            if path is None or any(path.startswith(g) for g in generated):
                continue
            checked += 1
            if not _exists(path):
                missing.append(f"{page.relative_to(ROOT)}: {span}")
    assert checked > 50
    assert not missing, f"paths named in the docs that are not in the repository: {missing}"


def test_the_architecture_picture_names_files_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    named = set(re.findall(r"\b((?:engine|templates|rules|playbooks)/[\w./*-]*\w|cli\.py)", text))
    assert len(named) > 40
    assert [p for p in sorted(named) if not _exists(p)] == []


# ---- 4. links lead somewhere ----------------------------------------------------------------------

def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", _prose(page.read_text("utf-8")), re.M)}


def test_relative_links_and_images_resolve():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text("utf-8"))):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and (dest.suffix != ".md" or anchor not in _anchors(dest)):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_stays_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) <= 200
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in readme, page.name
