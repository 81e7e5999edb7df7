"""End to end: the real Streamlit server on a free loopback port, driven by headless Chromium.

Analyses a text (with HTML in it, which must show up as text, not run), uploads the example
CSV through the page's real ``<input type=file>``, scores it and checks the download button,
saving screenshots along the way. Skips when Debian's ``chromium``/``chromedriver`` are not
installed, except in CI (``CI=true``), where a missing browser is a failure.

README screenshots: ``MISINFO_SCREENSHOT_DIR=3-misinformation-detector/outputs/screenshots
MISINFO_SCREENSHOT_MODELS=3-misinformation-detector/models .venv/bin/pytest -m browser
tests/misinformation/test_mis_app_browser.py`` (PNG, < 300 KB; the models variable is optional).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PROJECT = Path(__file__).resolve().parents[2] / "3-misinformation-detector"
APP = PROJECT / "app.py"
EXAMPLE_CSV = PROJECT / "examples" / "example_batch.csv"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver")
SCREENSHOT_ENV = "MISINFO_SCREENSHOT_DIR"
MAX_SCREENSHOT_BYTES = 300_000
WAIT = 60  # seconds for any one page state; the whole test is bounded by the timeout mark


def _require_browser() -> None:
    """Skip with the reason (or fail in CI, which installs the browser) when it is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() or shutil.which(p))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = (
            f"headless browser test needs {', '.join(missing)}: "
            "apt-get install -y chromium chromium-driver (and pip install selenium)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser test; {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    """Checked before anything is trained or started, so a skip costs nothing."""
    _require_browser()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def mis_browser_models(request: pytest.FixtureRequest) -> Path:
    """Quick synthetic models (conftest's session folder, shared with test_mis_app.py), or an
    existing folder named by MISINFO_SCREENSHOT_MODELS (README screenshots of real models)."""
    existing = os.environ.get("MISINFO_SCREENSHOT_MODELS", "").strip()
    if existing:
        return Path(existing).resolve()
    return Path(request.getfixturevalue("quick_models"))


@pytest.fixture(scope="module")
def server(mis_browser_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on 127.0.0.1:<free port>; always stopped within ~15 s."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "MISINFO_MODELS_DIR": str(mis_browser_models)}
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer in {WAIT} s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL after 10 s: never leave it running."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless Chromium through chromedriver with a throwaway profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _save(driver: object, name: str, tmp_dir: Path) -> Path:
    """Screenshot into the test's tmp folder, and into MISINFO_SCREENSHOT_DIR when set
    (palette-compressed there so README images stay under 300 KB)."""
    path = tmp_dir / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000, "screenshot looks blank"
    target_dir = os.environ.get(SCREENSHOT_ENV, "").strip()
    if target_dir:
        from PIL import Image

        target = Path(target_dir) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=128).save(target, optimize=True)
        assert target.stat().st_size < MAX_SCREENSHOT_BYTES, f"{target} is over 300 KB"
    return path


def _button(driver: object, label: str) -> object:
    """The visible button whose text is exactly ``label``."""
    from selenium.webdriver.common.by import By

    xpath = f"//button[normalize-space(.)='{label}']"
    return driver.find_element(By.XPATH, xpath)  # type: ignore[attr-defined]


def _no_tracebacks(driver: object) -> None:
    from selenium.webdriver.common.by import By

    assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")  # type: ignore[attr-defined]


def test_browser_analyses_a_text_and_scores_a_csv(
    browser: object, server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT)
    driver.get(server)  # type: ignore[attr-defined]

    # --- one text, with markup that must be displayed, never executed
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "textarea")))
    text = (
        "SHOCKING: doctors don't want you to know this miracle cure! "
        "<script>window.__pwned = 1</script> Share before they delete it!!!"
    )
    box.click()
    box.send_keys(text)
    box.send_keys(Keys.CONTROL, Keys.ENTER)  # commit the text area's value
    wait.until(lambda d: _button(d, "Analyse").is_enabled())
    time.sleep(0.5)
    _button(driver, "Analyse").click()
    label = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid='stMetricValue']"))
    )
    assert label.text.strip() in {"REAL", "FAKE"}
    highlighted = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".misinfo-highlight"))
    )
    assert "<script>window.__pwned = 1</script>" in highlighted.text  # shown as text
    assert driver.execute_script("return window.__pwned === undefined")  # type: ignore[attr-defined]
    _no_tracebacks(driver)
    _save(driver, "app_single_text.png", tmp_path)
    why = driver.find_element(By.XPATH, "//h3[contains(., 'Why')]")  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", why)  # type: ignore[attr-defined]
    time.sleep(0.5)  # let the charts draw
    _save(driver, "app_why.png", tmp_path)

    # --- batch: real upload through the page's file input
    tab = driver.find_element(By.XPATH, "//*[@role='tab'][contains(., 'CSV')]")  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tab)  # type: ignore[attr-defined]
    tab.click()
    file_input = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type='file']")))
    file_input.send_keys(str(EXAMPLE_CSV))
    wait.until(lambda d: _button(d, "Score all rows").is_displayed())
    _button(driver, "Score all rows").click()
    wait.until(
        ec.visibility_of_element_located(
            (
                By.XPATH,
                "//*[@data-testid='stDownloadButton']//button[contains(., 'Download results')]",
            )
        )
    )
    alerts = " ".join(
        e.text
        for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stAlert']")  # type: ignore[attr-defined]
    )
    assert "Scored" in alerts and "2 rows have empty text" in alerts
    _no_tracebacks(driver)
    success = driver.find_element(  # type: ignore[attr-defined]
        By.XPATH, "//*[@data-testid='stAlert'][contains(., 'Scored')]"
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", success)  # type: ignore[attr-defined]
    time.sleep(0.5)
    _save(driver, "app_batch_csv.png", tmp_path)


@pytest.fixture
def tripwire() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request: the URLs in hostile headers
    point at it, so any fetch or followed link shows up in the list."""
    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _visible_alerts(driver: object) -> list[object]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "[data-testid='stAlert']")  # type: ignore[attr-defined,no-any-return]


def test_markdown_in_headers_and_file_names_stays_text_and_fetches_nothing(
    browser: object, server: str, tmp_path: Path, tripwire: tuple[str, list[str]]
) -> None:
    """A Markdown image or link in a CSV header or a file name is shown as text: no request
    reaches the tripwire server, no link or image is on the page; a file over the limit is
    refused with a visible sentence, not only on hover."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from misinfo import page, tabular

    base, hits = tripwire
    driver = browser
    wait = WebDriverWait(driver, WAIT)
    driver.get(server)  # type: ignore[attr-defined]
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "textarea")))
    driver.find_element(By.XPATH, "//*[@role='tab'][contains(., 'CSV')]").click()  # type: ignore[attr-defined]
    file_input = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type='file']")))

    # 1. header only: the error repeats the header and the file name, as plain text
    header = f"![x]({base}/pixel.png),[Download the fixed file]({base}/phish),<img src={base}/i>"
    bad = tmp_path / "report ![y](z) *x* :smile:.csv"
    bad.write_text(header + "\n")
    with pytest.raises(tabular.TabularError) as expected:
        tabular.read_table(bad.read_bytes(), 10**6, name=bad.name)
    file_input.send_keys(str(bad))
    alert = wait.until(
        lambda d: next((a for a in _visible_alerts(d) if "no data rows" in a.text), None)
    )
    time.sleep(1.0)  # time for a fetch of the image to arrive, were it rendered
    assert hits == []
    assert alert.text.replace(page.WORD_JOINER, "") == str(expected.value)
    assert not alert.find_elements(By.CSS_SELECTOR, "a, img")

    # 2. a scored file with the same header and Markdown in a cell: caption, preview, result
    good = tmp_path / "scored ![y](z).csv"
    good.write_text(header + f"\nsome words here,[click]({base}/cell),![c]({base}/c.png)\n")
    file_input.send_keys(str(good))
    wait.until(lambda d: _button(d, "Score all rows").is_displayed())
    _button(driver, "Score all rows").click()
    wait.until(lambda d: any("Scored" in a.text for a in _visible_alerts(d)))
    _no_tracebacks(driver)

    # 3. over the limit: the upload box refuses it; the sentence under it says so in words
    big = tmp_path / "big.csv"
    with open(big, "wb") as handle:
        handle.truncate((page.max_upload_mb() + 1) * 1_000_000)  # sparse: no disk used
    file_input.send_keys(str(big))
    caption = driver.find_element(  # type: ignore[attr-defined]
        By.XPATH, "//*[@data-testid='stCaptionContainer'][contains(., 'A bigger file is refused')]"
    )
    assert caption.is_displayed()

    time.sleep(1.0)  # time for any stray fetch to arrive
    assert hits == []
    links = driver.find_elements(By.CSS_SELECTOR, f"a[href^='{base}'], img[src^='{base}']")  # type: ignore[attr-defined]
    assert links == []
