"""The page of `aimodel serve` in a real browser: Debian's headless Chromium driven by selenium.

Skipped, with the reason, where /usr/bin/chromium or /usr/bin/chromedriver is missing
(`apt-get install -y chromium chromium-driver`). Slow: a browser start takes seconds.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests._serve_support import digit_pngs

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1100,1000")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serve,
    pytest.mark.skipif(not (CHROMIUM.is_file() and DRIVER.is_file()),
                       reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                              "chromium-driver)"),
]


@pytest.fixture
def served(trained_run):
    """The app on a free 127.0.0.1 port, run by uvicorn in a thread of this process."""
    import uvicorn

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.server import bind
    from aimodel.serving.settings import ServeSettings

    sock = bind("127.0.0.1", 0)
    app = create_app(ServedModel(trained_run), ServeSettings(model=str(trained_run)))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_page_uploads_a_digit_and_shows_the_predicted_class(served, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(served + "/")
    wait.until(ec.text_to_be_present_in_element((By.ID, "model-name"), "tiny"))
    assert "image model" in browser.find_element(By.ID, "model-info").text

    name, png = next(iter(digit_pngs(4).items()))
    image = tmp_path / name
    image.write_bytes(png)
    expected = httpx.post(served + "/predict", files={"file": (name, png, "image/png")}).json()["predictions"][0]
    browser.find_element(By.ID, "file").send_keys(str(image))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".result .label"))
    card = browser.find_element(By.CSS_SELECTOR, ".result")
    assert card.get_attribute("data-input") == name
    assert card.find_element(By.CSS_SELECTOR, ".label").text == expected["label"]
    bars = card.find_elements(By.CSS_SELECTOR, ".bar .cls")
    assert [b.text for b in bars] == [t["label"] for t in expected["top_k"]]

    # Draw a stroke on the canvas and predict it: a second result card appears, named drawing.png.
    canvas = browser.find_element(By.ID, "canvas")
    ActionChains(browser).move_to_element_with_offset(canvas, 0, -90).click_and_hold() \
        .move_by_offset(0, 60).move_by_offset(0, 60).move_by_offset(0, 60).release().perform()
    browser.find_element(By.ID, "predict-drawing").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result .label")) == 2)
    drawn = browser.find_element(By.CSS_SELECTOR, ".result")
    assert drawn.get_attribute("data-input") == "drawing.png"
    assert drawn.find_element(By.CSS_SELECTOR, ".label").text in [str(i) for i in range(10)]
    browser.save_screenshot(str(tmp_path / "page.png"))
