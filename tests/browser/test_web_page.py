"""The web page served at ``/``, exercised in Debian's Chromium against the real service.

Each test opens the page in a fresh browser profile, uploads generated images (never real X-rays) and
checks what a user would see. Screenshots land in ``artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ml.classes import CLASSES

from .harness import API_KEY, SCREENSHOT_DIR, BrowserSession, why_no_browser
from .images import as_base64, dicom_bytes, jpeg_bytes, png_bytes, synthetic_xray

_reason = why_no_browser()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import FileChooser, FilePayload, Page, expect  # noqa: E402

from .pages import (  # noqa: E402
    CONTRAST_SCRIPT,
    RESULT_TIMEOUT_MS,
    open_page,
    payload,
    shown_percentages,
    upload,
    wait_for_error,
    wait_for_result,
)

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Screenshot = Callable[[Page, str], Path]


def overlay_natural_size(page: Page) -> tuple[int, int]:
    size = page.locator("#overlay-image").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    return int(size[0]), int(size[1])


def api_problem(url: str, file: FilePayload, headers: dict[str, str] | None = None) -> dict[str, object]:
    """What the API itself answers for ``file``: the page must show this problem's detail."""
    response = httpx.post(
        url + "/predict?gradcam=true",
        files={"file": (file["name"], file["buffer"], file["mimeType"])},
        headers=headers or {},
        timeout=60,
    )
    assert response.status_code >= 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = response.json()
    return problem


# ---- uploading and the result ------------------------------------------------------------------


def test_uploaded_png_shows_label_three_percentages_summing_to_100_and_overlay(
    browser: BrowserSession, service_url: str, screenshot: Screenshot
) -> None:
    page = browser.page
    open_page(page, service_url)
    upload(page, payload("chest.png", "image/png", png_bytes()))
    wait_for_result(page)

    label = page.locator("#predicted-label").inner_text()
    assert label in CLASSES
    shown = shown_percentages(page)
    assert list(shown) == list(CLASSES)
    assert sum(shown.values()) == pytest.approx(100.0, abs=1e-6)
    top = page.locator("#probabilities li.prob-top .prob-label").inner_text()
    assert top == label
    assert shown[label] == max(shown.values())

    overlay = page.locator("#overlay-image")
    expect(overlay).to_be_visible()
    width, height = overlay_natural_size(page)
    assert width > 0 and height > 0
    expect(page.locator("#original-image")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Predicted class: {label}")
    page.wait_for_timeout(500)  # let the bars' transition finish before the picture is taken
    screenshot(page, "result-laptop")


def test_progress_is_visible_while_the_server_works(
    browser: BrowserSession, slow_service_url: str, screenshot: Screenshot
) -> None:
    page = browser.page
    open_page(page, slow_service_url)
    upload(page, payload("chest.png", "image/png", png_bytes()))
    status = page.locator("#status")
    expect(status).to_contain_text("Analysing")
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.locator("#result-section")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Analyse again")).to_be_disabled()
    screenshot(page, "progress")

    wait_for_result(page)
    expect(page.get_by_role("progressbar")).to_be_hidden()
    expect(page.locator("#result-section")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Analyse again")).to_be_enabled()


def test_overlay_opacity_control_fades_the_heat_map(
    browser: BrowserSession, service_url: str, screenshot: Screenshot
) -> None:
    page = browser.page
    open_page(page, service_url)
    slider = page.get_by_label("Overlay opacity")
    expect(slider).to_be_disabled()
    upload(page, payload("chest.png", "image/png", png_bytes()))
    wait_for_result(page)
    expect(slider).to_be_enabled()

    slider.fill("30")
    assert page.locator("#overlay-image").evaluate("img => getComputedStyle(img).opacity") == "0.3"
    expect(page.locator("#opacity-value")).to_have_text("30%")
    base = page.locator("#overlay-base")
    expect(base).to_be_visible()  # the original, under the heat map, shows through
    assert base.bounding_box() == page.locator("#overlay-image").bounding_box()
    screenshot(page, "opacity-30")
    page.locator("#overlay-frame").screenshot(path=str(SCREENSHOT_DIR / "opacity-30-frame.png"))


def test_jpeg_upload_is_analysed(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    open_page(page, service_url)
    upload(page, payload("chest.jpg", "image/jpeg", jpeg_bytes()))
    wait_for_result(page)
    assert sum(shown_percentages(page).values()) == pytest.approx(100.0, abs=1e-6)
    expect(page.locator("#original-image")).to_be_visible()


def test_dicom_upload_shows_a_no_preview_note_and_the_server_overlay(
    browser: BrowserSession, service_url: str, screenshot: Screenshot
) -> None:
    page = browser.page
    open_page(page, service_url)
    upload(page, payload("study.dcm", "application/dicom", dicom_bytes()))
    expect(page.locator("#original-placeholder")).to_contain_text("cannot display DICOM")
    wait_for_result(page)
    expect(page.locator("#original-image")).to_be_hidden()
    expect(page.locator("#overlay-image")).to_be_visible()
    assert overlay_natural_size(page) == (192, 160)
    # Nothing to fade to without a browser-viewable original: the control stays off and says why.
    expect(page.get_by_label("Overlay opacity")).to_be_disabled()
    expect(page.locator("#opacity-help")).to_contain_text("PNG and JPEG")
    expect(page.get_by_role("button", name="Download overlay (PNG)")).to_be_enabled()
    screenshot(page, "result-dicom")


def test_dropped_file_is_analysed(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    open_page(page, service_url)
    page.locator("#drop-zone").evaluate(
        """(zone, b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
                zone.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        as_base64(png_bytes()),
    )
    expect(page.locator("#file-name")).to_contain_text("dropped.png")
    wait_for_result(page)
    assert len(shown_percentages(page)) == len(CLASSES)


# ---- download ---------------------------------------------------------------------------------


def test_download_button_saves_the_overlay_as_a_png_with_a_neutral_name(
    browser: BrowserSession, service_url: str
) -> None:
    page = browser.page
    open_page(page, service_url)
    download_button = page.get_by_role("button", name="Download overlay (PNG)")
    expect(download_button).to_be_disabled()
    upload(page, payload("Jane-Doe-1970-01-01.png", "image/png", png_bytes()))
    wait_for_result(page)

    with page.expect_download() as download_info:
        download_button.click()
    download = download_info.value
    assert download.suggested_filename == "gradcam-overlay.png"
    data = Path(download.path()).read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert "Jane" not in download.suggested_filename


# ---- errors and the API key -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "bogus"),
    [
        (
            "not-an-image",
            payload("not-an-image.png", "image/png", b"this is plain text, not a picture\n" * 4),
        ),
        ("too-small", payload("tiny.png", "image/png", png_bytes(synthetic_xray((16, 16))))),
    ],
)
def test_invalid_file_shows_the_api_problem_detail(
    browser: BrowserSession, service_url: str, screenshot: Screenshot, case: str, bogus: FilePayload
) -> None:
    problem = api_problem(service_url, bogus)
    detail = str(problem["detail"])
    assert detail

    page = browser.page
    open_page(page, service_url)
    upload(page, bogus)
    wait_for_error(page)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(detail)
    expect(alert).to_contain_text(str(problem["title"]))
    expect(page.locator("#result-body")).to_be_hidden()
    expect(page.get_by_role("button", name="Download overlay (PNG)")).to_be_disabled()
    screenshot(page, f"error-{case}")


def test_api_key_field_appears_when_required_and_unlocks_prediction(
    browser: BrowserSession, keyed_service_url: str, screenshot: Screenshot
) -> None:
    image = payload("chest.png", "image/png", png_bytes())
    missing = api_problem(keyed_service_url, image)
    wrong = api_problem(keyed_service_url, image, {"Authorization": "Bearer not-the-key"})
    assert missing["status"] == wrong["status"] == 401

    page = browser.page
    open_page(page, keyed_service_url)
    key_field = page.get_by_label("API key")
    expect(key_field).to_be_visible()  # /model answered 401, so the page asks for a key
    expect(page.locator("#model-info")).to_contain_text("requires an API key")

    upload(page, image)
    wait_for_error(page)
    expect(page.get_by_role("alert")).to_contain_text(str(missing["detail"]))
    screenshot(page, "error-api-key-missing")

    key_field.fill("not-the-key")
    page.get_by_role("button", name="Analyse again").click()
    expect(page.get_by_role("alert")).to_contain_text(str(wrong["detail"]), timeout=RESULT_TIMEOUT_MS)

    key_field.fill(API_KEY)
    page.get_by_role("button", name="Analyse again").click()
    wait_for_result(page)
    expect(page.get_by_role("alert")).to_be_hidden()
    assert sum(shown_percentages(page).values()) == pytest.approx(100.0, abs=1e-6)
    key_field.press("Enter")  # reloads the model card with the key and analyses the image again
    expect(page.locator("#model-info")).to_contain_text("paper-cnn", timeout=RESULT_TIMEOUT_MS)
    expect(page.locator("#status")).to_contain_text("Analysis complete", timeout=RESULT_TIMEOUT_MS)
    wait_for_result(page)
    page.wait_for_timeout(500)  # the bars' transition

    stored = page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie, JSON.stringify(localStorage)]"
    )
    assert stored[:3] == [0, 0, ""], f"the page kept something: {stored}"
    screenshot(page, "result-with-api-key")


def test_api_key_field_stays_hidden_when_the_server_needs_none(
    browser: BrowserSession, service_url: str
) -> None:
    page = browser.page
    open_page(page, service_url)
    expect(page.locator("#model-info")).to_contain_text("paper-cnn")
    expect(page.get_by_label("API key")).to_be_hidden()


# ---- accessibility, layout, privacy -----------------------------------------------------------


def test_page_works_with_the_keyboard_alone(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    # Turn Playwright's file-chooser interception on before any key is pressed: enabling it lazily inside
    # expect_file_chooser races the key press, and a chooser opened un-intercepted is lost in headless mode.
    chosen: list[FileChooser] = []
    page.on("filechooser", lambda chooser: chosen.append(chooser))
    open_page(page, service_url)

    # Tab from the top of the page to the file picker and open it with Enter (Space works natively).
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "file-input":
            break
    else:
        pytest.fail("Tab never reached the file picker")
    # The input itself is visually hidden: its label, styled as a button, shows the focus ring.
    ring = page.locator("label[for=file-input]").evaluate("l => getComputedStyle(l).outlineStyle")
    assert ring == "solid"
    page.keyboard.press("Enter")
    page.wait_for_function("() => true")  # a round trip, so the chooser event has arrived if there was one
    for _ in range(50):
        if chosen:
            break
        page.wait_for_timeout(100)
    assert chosen, "Enter on the focused file picker did not open it"
    chosen[0].set_files(payload("chest.png", "image/png", png_bytes()))
    wait_for_result(page)

    slider = page.get_by_label("Overlay opacity")
    slider.focus()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#opacity-value")).to_have_text("95%")

    page.get_by_role("button", name="Download overlay (PNG)").focus()
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    assert download_info.value.suggested_filename == "gradcam-overlay.png"


def test_every_control_has_a_label(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    open_page(page, service_url)
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, button, select, textarea")]
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                           && !(c.tagName === "BUTTON" && c.textContent.trim()))
            .map((c) => c.id || c.outerHTML)"""
    )
    assert unlabelled == []
    assert page.locator("[aria-live], [role=status], [role=alert]").count() >= 2


def test_not_a_diagnostic_device_note_is_visible(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    open_page(page, service_url)
    expect(page.locator("#not-diagnostic")).to_be_visible()
    expect(page.locator("#not-diagnostic")).to_contain_text("Not a diagnostic device")


@pytest.mark.parametrize(
    ("name", "width", "height"),
    [("laptop", 1366, 768), ("tablet-portrait", 768, 1024), ("tablet-landscape", 1024, 768)],
)
def test_layout_fits_the_screen_without_horizontal_scrolling(
    browser: BrowserSession, service_url: str, screenshot: Screenshot, name: str, width: int, height: int
) -> None:
    page = browser.page
    page.set_viewport_size({"width": width, "height": height})
    open_page(page, service_url)
    upload(page, payload("chest.png", "image/png", png_bytes()))
    wait_for_result(page)
    page.wait_for_timeout(500)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}x{height}"
    original = page.locator("#original-image").bounding_box()
    overlay = page.locator("#overlay-image").bounding_box()
    assert original and overlay
    assert original["y"] == pytest.approx(overlay["y"], abs=1), "the overlay is not beside the original"
    screenshot(page, f"layout-{name}")


def test_page_makes_no_request_outside_the_service(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    open_page(page, service_url)
    upload(page, payload("chest.png", "image/png", png_bytes()))
    wait_for_result(page)
    page.wait_for_load_state("networkidle")
    assert browser.blocked == []
    assert all(url.startswith((service_url, "blob:", "data:")) for url in browser.requests), browser.requests


def test_text_contrast_meets_wcag_aa_in_result_and_error_states(
    browser: BrowserSession, keyed_service_url: str
) -> None:
    page = browser.page
    open_page(page, keyed_service_url)
    upload(page, payload("chest.png", "image/png", png_bytes()))
    wait_for_error(page)  # no key yet: the error state, with the key field shown
    assert page.evaluate(CONTRAST_SCRIPT) == []

    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Analyse again").click()
    wait_for_result(page)
    assert page.evaluate(CONTRAST_SCRIPT) == []
