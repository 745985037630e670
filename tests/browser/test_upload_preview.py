"""What the page says about the chosen file before the answer: its size in the unit people read, and in the
Original panel what the file's first bytes show it is (as the server reads it), never a guess from its name.
"""

from __future__ import annotations

import pytest

from .harness import BrowserSession, why_no_browser
from .images import dicom_bytes, png_bytes

_reason = why_no_browser()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .pages import open_page, payload, upload, wait_for_error, wait_for_result  # noqa: E402

pytestmark = pytest.mark.slow

DICOM_NOTE = "Browsers cannot display DICOM files"


def test_a_text_file_is_not_called_dicom_and_its_size_is_in_bytes(
    browser: BrowserSession, service_url: str
) -> None:
    page = browser.page
    open_page(page, service_url)
    text = b"these are notes, not an image"[:28]
    assert len(text) == 28

    upload(page, payload("notes.txt", "text/plain", text))

    expect(page.locator("#file-name")).to_have_text("Chosen: notes.txt (28 bytes)")
    placeholder = page.locator("#original-placeholder")
    expect(placeholder).to_have_text("This file is not a PNG, JPEG or DICOM image: there is nothing to show.")
    expect(placeholder).not_to_contain_text(DICOM_NOTE)
    wait_for_error(page)  # the server's own 415 follows
    expect(page.get_by_role("alert")).to_contain_text("neither PNG, JPEG nor DICOM")


def test_a_dicom_file_is_recognised_by_its_bytes_whatever_its_name(
    browser: BrowserSession, service_url: str
) -> None:
    page = browser.page
    open_page(page, service_url)

    upload(page, payload("export.bin", "application/octet-stream", dicom_bytes()))

    expect(page.locator("#original-placeholder")).to_contain_text(DICOM_NOTE)
    wait_for_result(page)
    expect(page.locator("#overlay-image")).to_be_visible()


def test_a_png_named_like_dicom_is_shown_as_the_picture_it_is(
    browser: BrowserSession, service_url: str
) -> None:
    page = browser.page
    open_page(page, service_url)

    upload(page, payload("scan.dcm", "application/dicom", png_bytes()))

    wait_for_result(page)
    expect(page.locator("#original-image")).to_be_visible()
    expect(page.get_by_label("Overlay opacity")).to_be_enabled()


@pytest.mark.parametrize(
    ("size", "shown"),
    [(1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KB"), (150_000, "146 KB"), (2_500_000, "2.4 MB")],
)
def test_the_chosen_files_size_is_shown_in_the_unit_people_read(
    browser: BrowserSession, service_url: str, size: int, shown: str
) -> None:
    page = browser.page
    open_page(page, service_url)

    upload(page, payload("blob.bin", "application/octet-stream", b"\0" * size))

    expect(page.locator("#file-name")).to_have_text(f"Chosen: blob.bin ({shown})")
