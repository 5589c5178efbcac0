"""The portfolio report in a real browser: headless Chromium (Debian's `chromium`) opens
out/portfolio.html, lays out every chart with real marks, paints a non-blank page and logs
no console message at all (the page has no scripts, so any message is an error: a blocked
resource, a CSP violation).

Skips when chromium is not installed locally; fails instead when CI=true (.ci/run installs it)."""
from __future__ import annotations

import datetime
import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from engine.project.load import load_project
from engine.render import write_documents
from engine.run import evaluate_portfolio

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
CHARTS = 6  # risk levels, concentration, by category, by manager, Pareto, KAISM
# test-only instrumentation: after load, measure every chart as the browser laid it out
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("svg.chart")].map(svg => {
    const box = svg.getBoundingClientRect();
    const drawn = [...svg.querySelectorAll("rect, circle, polygon, polyline, line")]
      .filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
    return {label: svg.getAttribute("aria-label"), width: box.width, height: box.height,
            marks: drawn.length, points: svg.querySelectorAll("circle.pt").length,
            texts: [...svg.querySelectorAll("text")].filter(t => t.getComputedTextLength() > 0).length,
            // a label the chart's own edge cuts: outside the viewBox
            clipped: [...svg.querySelectorAll("text")].filter(t => { const b = t.getBoundingClientRect();
              return b.left < box.left - 0.5 || b.right > box.right + 0.5; }).map(t => t.textContent)};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({charts, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is not installed: .ci/run must `apt-get install -y chromium`")
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); "
                    "the portfolio report's browser test needs it")
    return found


@pytest.fixture(scope="module")
def chromium() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, chromium) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    evaluate_portfolio(load_project(ROOT), [ROOT / "examples" / "accounts.csv"], out,
                       datetime.date(2026, 11, 23), "en", write_documents=write_documents)
    return out


def _browse(chromium: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _png_rows(data: bytes, max_rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and the first rows (RGB or RGBA bytes) of an 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompressobj().decompress(idat, (width * bpp + 1) * max_rows)
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for r in range(min(max_rows, height)):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_report_is_self_contained(run_dir):
    page = (run_dir / "portfolio.html").read_text("utf-8")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an external resource"
    assert "@import" not in page and "url(" not in page
    assert page.count('<svg class="chart"') == CHARTS


def _probe(chromium: str, run: Path, tmp_path: Path) -> list[dict]:
    """Every chart of run/portfolio.html as Chromium laid it out."""
    page = (run / "portfolio.html").read_text("utf-8")
    # the probe is an inline script: the copy drops the page's CSP, which forbids scripts
    probed = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace(
        "</head>", PROBE + "</head>")
    copy = tmp_path / "probed.html"
    copy.write_text(probed, "utf-8")
    done = _browse(chromium, copy, tmp_path / "profile", "--dump-dom", "--window-size=1280,2000")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console(done.stderr) == []
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, "the page did not finish loading: " + done.stdout[:500]
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["errors"] == []
    return probe["charts"]


def test_charts_render_in_chromium(chromium, run_dir, tmp_path):
    results = [json.loads(x) for x in (run_dir / "results.jsonl").read_text("utf-8").splitlines()]
    scored = sum(1 for r in results if r["kaism_value"] is not None and r["kaism_attractiveness"] is not None)
    charts = _probe(chromium, run_dir, tmp_path)
    assert len(charts) == CHARTS
    for c in charts:
        assert c["width"] > 300 and c["height"] > 60, c
        assert c["marks"] >= 3 and c["texts"] >= 3, c
        assert c["clipped"] == [], c
    kaism = next(c for c in charts if c["points"])
    assert kaism["points"] == scored > 100  # every scored account is placed on the matrix


def test_report_paints_without_console_messages(chromium, run_dir, tmp_path):
    shot = tmp_path / "shot.png"
    done = _browse(chromium, run_dir / "portfolio.html", tmp_path / "profile",
                   f"--screenshot={shot}", "--window-size=800,700")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console(done.stderr) == []  # no blocked resource, no CSP violation
    width, height, rows = _png_rows(shot.read_bytes(), 700)
    assert (width, height) == (800, 700)
    bpp = len(rows[0]) // width
    pixels = {row[i:i + 3] for row in rows[::3] for i in range(0, len(row), bpp * 3)}
    assert len(pixels) > 100, "the page is (nearly) blank"
    # the risk-level bars are painted: the colours of 'no risk', 'medium' and 'high'
    for colour in ("4caf50", "f5a623", "d93025"):
        assert bytes.fromhex(colour) in {row[i:i + 3] for row in rows for i in range(0, len(row), bpp)}, colour


def test_russian_report(chromium, tmp_path):
    out = tmp_path / "out"
    evaluate_portfolio(load_project(ROOT), [ROOT / "examples" / "accounts_ru.csv"], out,
                       datetime.date(2026, 11, 23), "ru", write_documents=write_documents)
    page = (out / "portfolio.html").read_text("utf-8")
    assert '<html lang="ru">' in page and "Матрица ключевых клиентов" in page and "млн" in page
    charts = _probe(chromium, out, tmp_path)
    assert len(charts) == CHARTS
    # Cyrillic names are wider than Latin ones: "ООО «Восточный Профи…" once lost its first letter
    assert all(c["clipped"] == [] for c in charts), [c["clipped"] for c in charts]
    assert "ООО «Восточный" in page
