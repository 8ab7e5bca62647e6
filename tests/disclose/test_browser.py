"""The archivist's path in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium, no browser download) on the Prefect UI of the test's
Prefect server. Open the suspended disclosure run, see the contact sheet artifact rendered (the
image itself: its natural width, not only its alt text), fill the selection form, submit, and see
the run move on to the supervisor's decision.

Screenshots go to a temporary folder; with ``FOOTAGE_DOC_SCREENSHOTS=1`` they are also copied to
docs/img/ (the ones docs/disclosure.md shows).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .conftest import cli, history, request, run_state, wait_for

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# read at import: the site fixture clears FOOTAGE_* variables that are not its own
DOC_SCREENSHOTS = os.environ.get("FOOTAGE_DOC_SCREENSHOTS") == "1"

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="no Chromium: install Debian's chromium and chromium-driver (scripts/setup.sh does)"),
]


@pytest.fixture
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _until(driver, find, timeout: float = 60.0, what: str = "the element"):
    """Poll ``find(driver)`` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = find(driver)
        except Exception:  # the page still building: stale or missing elements
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} never appeared"
        time.sleep(0.5)


def _button(driver, text: str, within=None):
    from selenium.webdriver.common.by import By

    root = within or driver
    return next((b for b in root.find_elements(By.TAG_NAME, "button") if b.text.strip() == text and b.is_displayed()),
                None)


def _dialog(driver):
    from selenium.webdriver.common.by import By

    return next(iter(driver.find_elements(By.CSS_SELECTOR, "[role=dialog]")), None)


def test_archivist_selects_in_the_prefect_ui(site, clip, browser, tmp_path):
    from selenium.webdriver.common.by import By

    shots = tmp_path / "shots"
    shots.mkdir()

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / name))

    site.configure(trust_ui_input=True)  # the UI's form cannot sign: trusted, and the receipt says so
    try:
        run = request(site, clip)

        # 1. the suspended run, with its Resume button
        browser.get(f"{site.url}/runs/flow-run/{run}")
        _until(browser, lambda d: _button(d, "Resume"), what="the Resume button of the suspended run")
        assert "Suspended" in browser.find_element(By.TAG_NAME, "body").text
        shot("disclosure-1-suspended-run.png")

        # 2. the contact sheet artifact: the image decoded, at the size it was published
        arts = httpx.post(f"{site.api}/artifacts/filter", json={"flow_runs": {"id": {"any_": [run]}}}).json()
        (art,) = [a for a in arts if a["key"].endswith("-tracks")]
        browser.get(f"{site.url}/artifacts/artifact/{art['id']}")
        img = _until(browser, lambda d: next((i for i in d.find_elements(By.CSS_SELECTOR, "img[alt='contact sheet']")
                                              if d.execute_script("return arguments[0].complete", i)), None),
                     what="the contact sheet image")
        natural = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
        with Image.open(site.home / "disclosures" / run / "sheet.png") as sheet:
            width = min(sheet.width, 960)  # published at most 960 px wide
            assert natural == [width, int(sheet.height * width / sheet.width)], natural
        assert img.size["width"] > 100 and img.size["height"] > 50  # laid out, not a broken icon
        assert "Face and text tracks" in browser.find_element(By.TAG_NAME, "body").text
        shot("disclosure-2-contact-sheet.png")

        # 3. the selection form: user, one track to keep (the requester), submit
        browser.get(f"{site.url}/runs/flow-run/{run}")
        _until(browser, lambda d: _button(d, "Resume"), what="the Resume button").click()
        dialog = _until(browser, _dialog, what="the resume form")
        _until(browser, lambda d: "User" in dialog.text and "Keep" in dialog.text, what="the Selection form")
        dialog.find_elements(By.TAG_NAME, "textarea")[0].send_keys("alice")
        before = dialog.find_elements(By.TAG_NAME, "textarea")
        _button(browser, "Add item", dialog).click()  # the first "Add item" is Keep's
        # an item of list[int | str] is a small JSON editor (a textarea)
        editor = _until(browser, lambda d: [t for t in dialog.find_elements(By.TAG_NAME, "textarea")
                                            if t not in before], what="the keep item's editor")[0]
        editor.click()
        editor.send_keys("2")
        shot("disclosure-3-selection-form.png")
        _button(browser, "Submit", dialog).click()

        # 4. the run moves on: it waits for the supervisor's decision, and the UI shows that form
        wait_for(run, lambda r: r.state.is_paused() and r.state.state_details.pause_key == "approve-1",
                 what="the supervisor's decision")
        browser.get(f"{site.url}/runs/flow-run/{run}")
        _until(browser, lambda d: _button(d, "Resume"), what="the Resume button").click()
        dialog = _until(browser, _dialog, what="the decision form")
        _until(browser, lambda d: "Approve" in dialog.text, what="the Decision form")
        shot("disclosure-4-decision-form.png")
    finally:
        site.configure()

    st = cli("disclose", "status", run, "--json")
    assert st["awaiting"] == "approve" and st["pause_key"] == "approve-1"
    events = [e for e in history(clip[1]) if e["kind"] == "disclosure_selected" and e["detail"]["run"] == run]
    assert [(e["user"], e["detail"]["keep"], e["detail"]["via"]) for e in events] == [("alice", [2], "ui")]
    done = cli("disclose", "reject", run, "--comment", "browser test", "--as", "bob", "--key", str(site.keys["bob"]),
               "--json")
    assert done["receipt"]["unsigned_ui_input"]["steps"] == ["select"]
    assert run_state(run).state.is_completed()

    if DOC_SCREENSHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for png in sorted(shots.glob("*.png")):
            shutil.copy(png, DOCS_IMG / png.name)
