"""The verify report: report.json / report.md / one self-contained report.html, opened
in a real headless browser (Debian's chromium) that must log no console error and
decode every picture; a screenshot is saved for people to look at."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit import runtime, zoo
from convertkit.verify import Options, Verifier, png, samples_from_images
from convertkit.verify import palettes, report as rep
from convertkit.runtime.preprocess import sample_images

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "fixtures" / "models" / "icnet_small"


def needs(*names):
    missing = [n for n in names if n not in runtime.installed_runtimes()]
    if missing:
        pytest.skip(f"runtime(s) not installed here: {', '.join(missing)}")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless browser: install Debian's chromium (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def icnet_report(tmp_path_factory):
    """A report with a runtime whose predictions differ somewhere (a corrupt BN in a
    weight file), so that the heat map has something to show."""
    needs("opencv", "onnx")
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    d = tmp_path_factory.mktemp("files")
    from convertkit.emit import convert as conv

    outputs = conv.plan_outputs(["npz"], d, "icnet", inputs=[], force=True)
    conv.convert(net, outputs)
    arrays = dict(np.load(d / "icnet.npz"))
    arrays["conv5_3_1x1_increase/bn/variance"] = arrays["conv5_3_1x1_increase/bn/variance"] * 9
    np.savez(d / "icnet.npz", **arrays)
    samples = samples_from_images(net, sample_images()[:2])
    result = Verifier(net, Options(converted=d, runtimes=["numpy", "opencv"], visuals=True)).run(samples)
    out = tmp_path_factory.mktemp("report")
    rep.write(result, out)
    return result, out


def test_three_files_with_a_versioned_schema(icnet_report):
    result, out = icnet_report
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "convertkit.verify/1"
    assert report == json.loads(rep.to_json(result.report))
    assert report["verdict"] == "fail"
    assert report["first_divergence"]["layer"] == "conv5_3_1x1_increase/bn"
    assert report["model"]["palette"] == "cityscapes" and report["model"]["classes"] == 19
    md = (out / "report.md").read_text()
    assert md.startswith("# convertkit verify: FAIL")
    assert "| numpy[icnet.npz] | icnet.npz | per layer | **fail** | conv5_3_1x1_increase/bn (BN" in md
    assert "### Per layer: max|diff| / max|ref|" in md


def test_html_is_self_contained(icnet_report):
    _, out = icnet_report
    html = (out / "report.html").read_text()
    assert "<script" not in html
    assert not re.search(r'(src|href)="(?!data:|#)', html), "every resource is embedded"
    first = re.search(r'<a href="#(layer-keep-\d+)">conv5_3_1x1_increase/bn', html)
    assert first and f'<tr id="{first.group(1)}" class="first">' in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # Per image: the input, the reference, the corrupt file's own prediction, the heat
    # map, and OpenCV's only where a near-tie makes it differ from the reference.
    assert len(uris) == html.count("<img") and 8 <= len(uris) <= 10
    assert "npz]: " in html and "pixels differ" in html
    for uri in uris:
        _check_png(__import__("base64").b64decode(uri))
    assert html.count("<svg") == 1 and "tolerance 0.0001" in html
    assert re.search(r"disagreement: \d+ pixels", html), "the corrupt file disagrees somewhere"


def _check_png(data: bytes) -> tuple[int, int]:
    """Decode our PNG by hand: signature, IHDR, inflate IDAT, each row's filter byte."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    colour = data[25]
    idat = data.index(b"IDAT")
    n = int.from_bytes(data[idat - 4:idat], "big")
    raw = zlib.decompress(data[idat + 4:idat + 4 + n])
    channels = {0: 1, 2: 3}[colour]
    assert len(raw) == h * (1 + w * channels)
    return w, h


def test_png_round_trip_with_pillow_when_present():
    pixels = np.random.default_rng(0).integers(0, 255, (7, 5, 3), dtype=np.uint8)
    data = png.encode(pixels)
    assert _check_png(data) == (5, 7)
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    import io

    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    grey = png.encode(pixels[:, :, 0])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(grey))), pixels[:, :, 0])


def test_palettes_by_class_count():
    cs, names, name = palettes.palette(19)
    assert name == "cityscapes" and names[0] == "road" and tuple(cs[0]) == (128, 64, 128)
    ade, _, name = palettes.palette(150)
    assert name == "ade20k" and len(ade) == 150 and tuple(ade[0]) == (120, 120, 120)
    voc, names, name = palettes.palette(21)
    assert name == "voc" and names[15] == "person" and tuple(voc[15]) == (192, 128, 128)
    assert len({tuple(c) for c in voc}) == 21
    other, names, name = palettes.palette(7)
    assert name == "generic" and names is None and len(other) == 7


def test_heat_map_marks_disagreement():
    ref = np.zeros((4, 6), np.uint8)
    other = ref.copy()
    other[1, 2] = 3
    picture, n = rep.heat_map(ref, [other, ref], None)
    assert n == 1 and picture.shape == (4, 6, 3)
    assert tuple(picture[1, 2]) != tuple(picture[0, 0])
    assert picture[1, 2, 0] > picture[1, 2, 1]  # red


def test_ade20k_report_uses_its_palette(tmp_path):
    needs("onnx")
    _, net = zoo.make("pspnet50", input_size=97, width=0.125)
    samples = samples_from_images(net, sample_images()[:1])
    result = Verifier(net, Options(direct=True, runtimes=["onnx"], visuals=True)).run(samples)
    rep.write(result, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "ade20k palette (150 classes)" in html
    assert result.report["verdict"] == "pass"


def _browser(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--mute-audio",
            "--user-data-dir=" + os.environ.get("TMPDIR", "/tmp") + f"/ck-chromium-{os.getpid()}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


#: Injected into a copy of the report (the report itself has no script): every
#: picture must have decoded, and the result is written where --dump-dom shows it.
CHECK = """<script>
window.addEventListener('load', () => {
  // The load event waits for every picture; one that failed has no natural size.
  const imgs = Array.from(document.images);
  const bad = imgs.filter(im => !im.complete || !im.naturalWidth || !im.naturalHeight);
  bad.forEach(im => console.error('cannot decode ' + im.alt));
  document.body.setAttribute('data-images', imgs.length + '/' + bad.length);
  document.body.setAttribute('data-svgs', document.querySelectorAll('svg polyline, svg circle').length);
});
</script>"""


def _console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


def test_chromium_opens_the_report_without_errors(icnet_report, tmp_path):
    _, out = icnet_report
    page = out / "report.html"
    # The report as written: no console message at all.
    plain = _browser(["--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()])
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "<h1>" in plain.stdout
    assert _console_lines(plain.stderr) == [], _console_lines(plain.stderr)
    # A copy with the check script: every picture decodes.
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    res = _browser(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                    "--dump-dom", checked.as_uri()])
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'data-images="(\d+)/(\d+)"', res.stdout)
    assert m, ("the check script did not run", re.findall(r"<body[^>]*>", res.stdout))
    assert int(m.group(1)) == page.read_text().count("<img") and int(m.group(2)) == 0, m.group(0)
    assert int(re.search(r'data-svgs="(\d+)"', res.stdout).group(1)) >= 2
    assert _console_lines(res.stderr) == [], _console_lines(res.stderr)
    # A screenshot, for people (CONVERTKIT_SCREENSHOT_DIR keeps a copy).
    shot = tmp_path / "report.png"
    res = _browser([f"--screenshot={shot}", "--window-size=1400,2600", page.as_uri()])
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    w, h = _check_png_size(shot.read_bytes())
    assert (w, h) == (1400, 2600) and shot.stat().st_size > 50_000
    keep = os.environ.get("CONVERTKIT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "verify-report.png")


def _check_png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
