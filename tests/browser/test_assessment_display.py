"""The input assessment on the web page: out of scope, uncertain or trusted, shown before the result.

The real service decides with random gates whose thresholds force each outcome (see ``conftest.py``);
answers no test gate gives (no gate at all, a reason code the page does not know) are the real answer
with a crafted ``assessment``, swapped in by Playwright on the way to the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ml.classes import CLASSES

from .harness import BrowserSession, why_no_browser
from .images import png_bytes

_reason = why_no_browser()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import Locator, Page, Route, expect  # noqa: E402

from .pages import (  # noqa: E402
    CONTRAST_SCRIPT,
    RESULT_TIMEOUT_MS,
    open_page,
    payload,
    shown_percentages,
    upload,
    wait_for_result,
)

pytestmark = pytest.mark.slow

Screenshot = Callable[[Page, str], Path]
CHEST = payload("chest.png", "image/png", png_bytes())


def api_assessment(url: str) -> dict[str, Any]:
    """The assessment the API itself gives ``CHEST``: what the page is expected to show."""
    response = httpx.post(
        url + "/predict", files={"file": (CHEST["name"], CHEST["buffer"], CHEST["mimeType"])}, timeout=60
    )
    response.raise_for_status()
    assessment: dict[str, Any] = response.json()["assessment"]
    return assessment


def answer_with(page: Page, assessments: Iterator[dict[str, Any]]) -> None:
    """Each ``POST /predict`` gets the real answer with the next of ``assessments`` in its place."""

    def swap(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["assessment"] = next(assessments)
        route.fulfill(response=response, json=body)

    page.route("**/predict*", swap)


def banner(page: Page) -> Locator:
    return page.get_by_role("alert")


def badge(page: Page) -> Locator:
    return page.locator("#uncertain-note")


def reason_lines(list_: Locator) -> list[str]:
    return [line.strip() for line in list_.locator("li").all_inner_texts()]


def shown_scores(page: Page) -> dict[str, str]:
    items = page.locator("#assessment-scores > div")
    return {
        items.nth(i).locator("dt").inner_text(): items.nth(i).locator("dd").inner_text()
        for i in range(items.count())
    }


def precedes(page: Page, first: str, then: str) -> bool:
    return bool(
        page.evaluate(
            "([a, b]) => Boolean(document.querySelector(a).compareDocumentPosition("
            "document.querySelector(b)) & Node.DOCUMENT_POSITION_FOLLOWING)",
            [first, then],
        )
    )


def test_out_of_scope_answer_shows_a_banner_before_the_result_and_keeps_the_probabilities(
    browser: BrowserSession, rejecting_service_url: str, screenshot: Screenshot
) -> None:
    expected = api_assessment(rejecting_service_url)
    assert expected["in_scope"] is False and expected["reasons"]

    page = browser.page
    open_page(page, rejecting_service_url)
    upload(page, CHEST)
    wait_for_result(page)

    alert = banner(page)
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("does not look like a frontal chest X-ray")
    expect(alert).to_contain_text("do not use the probabilities")
    lines = reason_lines(page.locator("#scope-reasons"))
    assert len(lines) == len(expected["reasons"])
    for line, code in zip(lines, expected["reasons"], strict=True):
        assert line != code and " " in line, f"reason {code!r} is not put in words: {line!r}"
    expect(badge(page)).to_be_hidden()
    expect(page.locator("#trusted-note")).to_be_hidden()

    # Before the result, in reading order and on screen.
    assert precedes(page, "#scope-banner", "#result-body")
    banner_box = alert.bounding_box()
    result_box = page.locator("#probabilities").bounding_box()
    assert banner_box and result_box and banner_box["y"] + banner_box["height"] <= result_box["y"]

    # The numbers and the heat map stay, readable but visibly set back.
    assert list(shown_percentages(page)) == list(CLASSES)
    assert sum(shown_percentages(page).values()) == pytest.approx(100.0, abs=1e-6)
    expect(page.locator("#overlay-image")).to_be_visible()
    expect(page.locator("#result-void")).to_be_visible()
    expect(page.locator("#images-void")).to_be_visible()
    bar_opacity = page.locator("#probabilities .prob-bar").first.evaluate("b => getComputedStyle(b).opacity")
    assert float(bar_opacity) < 1
    assert "opacity" in page.locator("#overlay-image").evaluate("i => getComputedStyle(i).filter")
    faded_text = page.locator("#result-body").evaluate(
        "body => [body, ...body.querySelectorAll('*')].filter((n) => getComputedStyle(n).opacity !== '1'"
        " && n.textContent.trim() && !n.closest('.prob-bar')).length"
    )
    assert faded_text == 0, "text of the result is faded below its measured contrast"
    expect(page.get_by_role("status")).to_contain_text("do not use the result")
    page.wait_for_timeout(500)  # the bars' transition
    screenshot(page, "assessment-out-of-scope")


def test_uncertain_answer_shows_the_badge_with_its_reason(
    browser: BrowserSession, doubting_service_url: str, screenshot: Screenshot
) -> None:
    expected = api_assessment(doubting_service_url)
    assert expected["in_scope"] is True and expected["uncertain"] is True
    assert expected["reasons"] == ["low_confidence"]

    page = browser.page
    open_page(page, doubting_service_url)
    upload(page, CHEST)
    wait_for_result(page)

    note = badge(page)
    expect(note).to_be_visible()
    expect(note.locator(".badge")).to_have_text("Uncertain")
    assert reason_lines(page.locator("#uncertain-reasons")) == [
        "The model is not confident: no class clearly stands out."
    ]
    assert precedes(page, "#uncertain-note", "#result-body")
    expect(banner(page)).to_have_count(0)
    expect(page.locator("#trusted-note")).to_be_hidden()
    expect(page.locator("#result-void")).to_be_hidden()
    label = page.locator("#predicted-label").inner_text()
    expect(page.get_by_role("status")).to_contain_text(f"Predicted class: {label}")
    expect(page.get_by_role("status")).to_contain_text("Uncertain")
    page.wait_for_timeout(500)
    screenshot(page, "assessment-uncertain")


def test_trusted_answer_shows_neither_banner_nor_badge_and_all_three_scores(
    browser: BrowserSession, service_url: str, screenshot: Screenshot
) -> None:
    expected = api_assessment(service_url)
    assert expected["in_scope"] is True and expected["uncertain"] is False

    page = browser.page
    open_page(page, service_url)
    upload(page, CHEST)
    wait_for_result(page)

    expect(banner(page)).to_have_count(0)
    expect(badge(page)).to_be_hidden()
    expect(page.locator("#trusted-note")).to_be_visible()
    expect(page.locator("#trusted-note")).to_contain_text("No warnings")
    expect(page.locator("#result-void")).to_be_hidden()
    scores = shown_scores(page)
    assert list(scores) == ["Chest X-ray likelihood", "Typicality", "Confidence"]
    assert scores["Chest X-ray likelihood"] == f"{expected['scores']['chest_xray'] * 100:.1f}%"
    assert scores["Typicality"] == f"{expected['scores']['typicality']:.2f}"
    assert scores["Confidence"] == f"{expected['scores']['confidence'] * 100:.1f}%"
    page.wait_for_timeout(500)
    screenshot(page, "assessment-trusted")


def test_answer_of_weights_without_a_gate_is_uncertain_and_shows_only_the_confidence(
    browser: BrowserSession, service_url: str, screenshot: Screenshot
) -> None:
    page = browser.page
    answer_with(
        page,
        iter(
            [
                {
                    "in_scope": True,
                    "uncertain": True,
                    "reasons": ["gate_unavailable"],
                    "scores": {"chest_xray": None, "typicality": None, "confidence": 0.6},
                }
            ]
        ),
    )
    open_page(page, service_url)
    upload(page, CHEST)
    wait_for_result(page)

    expect(badge(page)).to_be_visible()
    expect(page.locator("#uncertain-reasons")).to_contain_text("no input checks")
    assert shown_scores(page) == {"Confidence": "60.0%"}
    screenshot(page, "assessment-no-gate")


def test_banner_puts_known_reasons_in_words_and_shows_an_unknown_code_as_it_is(
    browser: BrowserSession, service_url: str
) -> None:
    page = browser.page
    answer_with(
        page,
        iter(
            [
                {
                    "in_scope": False,
                    "uncertain": False,
                    "reasons": ["colour_image", "reason_from_a_newer_server"],
                    "scores": {"chest_xray": 0.02, "typicality": None, "confidence": 0.9},
                }
            ]
        ),
    )
    open_page(page, service_url)
    upload(page, CHEST)
    wait_for_result(page)

    expect(banner(page)).to_be_visible()
    lines = reason_lines(page.locator("#scope-reasons"))
    assert len(lines) == 2
    assert "colour" in lines[0] and lines[0] != "colour_image"
    assert lines[1] == "reason_from_a_newer_server"
    assert shown_scores(page) == {"Chest X-ray likelihood": "2.0%", "Confidence": "90.0%"}


def test_a_new_answer_replaces_the_previous_assessment(browser: BrowserSession, service_url: str) -> None:
    page = browser.page
    out_of_scope = {
        "in_scope": False,
        "uncertain": False,
        "reasons": ["blank_image"],
        "scores": {"chest_xray": 0.1, "typicality": 0.3, "confidence": 0.5},
    }
    answer_with(page, iter([out_of_scope, api_assessment(service_url)]))
    open_page(page, service_url)
    upload(page, CHEST)
    wait_for_result(page)
    expect(banner(page)).to_be_visible()

    page.get_by_role("button", name="Analyse again").click()
    expect(page.locator("#trusted-note")).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(banner(page)).to_have_count(0)
    expect(page.locator("#result-void")).to_be_hidden()
    expect(page.locator("#images-void")).to_be_hidden()
    assert page.locator(".out-of-scope").count() == 0


@pytest.mark.parametrize("service", ["rejecting_service_url", "doubting_service_url"])
def test_banner_and_badge_text_meet_wcag_aa(
    browser: BrowserSession, request: pytest.FixtureRequest, service: str
) -> None:
    url: str = request.getfixturevalue(service)
    page = browser.page
    open_page(page, url)
    upload(page, CHEST)
    wait_for_result(page)
    shown = banner(page) if service == "rejecting_service_url" else badge(page)
    expect(shown).to_be_visible()  # so the check below measured it
    assert page.evaluate(CONTRAST_SCRIPT) == []


@pytest.mark.parametrize(("width", "height"), [(768, 1024), (1024, 768)])
def test_out_of_scope_banner_fits_the_screen_without_horizontal_scrolling(
    browser: BrowserSession, rejecting_service_url: str, screenshot: Screenshot, width: int, height: int
) -> None:
    page = browser.page
    page.set_viewport_size({"width": width, "height": height})
    open_page(page, rejecting_service_url)
    upload(page, CHEST)
    wait_for_result(page)
    expect(banner(page)).to_be_visible()
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}x{height}"
    page.wait_for_timeout(500)
    screenshot(page, f"assessment-out-of-scope-{width}x{height}")


def test_an_unfamiliar_site_is_said_in_words_before_the_result(
    browser: BrowserSession, service_url: str, screenshot: Screenshot
) -> None:
    page = browser.page
    answer_with(
        page,
        iter(
            [
                {
                    "in_scope": True,
                    "uncertain": True,
                    "reasons": ["unfamiliar_source"],
                    "scores": {"chest_xray": 0.99, "typicality": 0.3, "confidence": 0.9, "familiarity": 0.2},
                    "site": {
                        "name": "ward-7",
                        "answers": 16,
                        "window": 16,
                        "statistic": 0.21,
                        "unfamiliar": True,
                    },
                }
            ]
        ),
    )
    open_page(page, service_url)
    upload(page, CHEST)
    wait_for_result(page)

    note = page.locator("#site-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Unfamiliar source")
    expect(note).to_contain_text("ward-7")
    expect(note).to_contain_text("not been validated")
    assert precedes(page, "#site-note", "#result-body")
    expect(badge(page)).to_be_visible()
    (line,) = reason_lines(page.locator("#uncertain-reasons"))
    assert "hospitals the model was trained on" in line
    screenshot(page, "assessment-unfamiliar-site")


def test_a_site_still_filling_its_window_is_counted_in_words(
    browser: BrowserSession, service_url: str
) -> None:
    expected = api_assessment(service_url)["site"]
    assert expected is not None and expected["statistic"] is None

    page = browser.page
    open_page(page, service_url)
    upload(page, CHEST)
    wait_for_result(page)

    note = page.locator("#site-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"of {expected['window']} films seen")
    expect(note).not_to_contain_text("Unfamiliar")
