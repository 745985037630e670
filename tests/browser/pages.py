"""What the browser tests do on the page and read back from it: upload, wait, percentages, contrast.

Imported by the test modules only after they have checked that Playwright is installed.
"""

from __future__ import annotations

import re

from playwright.sync_api import FilePayload, Page, expect

RESULT_TIMEOUT_MS = 60_000


def payload(name: str, mime: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime, "buffer": data}


def open_page(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Chest X-ray classifier")


def upload(page: Page, file: FilePayload) -> None:
    page.locator("#file-input").set_input_files(file)


def wait_for_result(page: Page) -> None:
    expect(page.locator("#result-body")).to_be_visible(timeout=RESULT_TIMEOUT_MS)


def wait_for_error(page: Page) -> None:
    expect(page.get_by_role("alert")).to_be_visible(timeout=RESULT_TIMEOUT_MS)


def shown_percentages(page: Page) -> dict[str, float]:
    rows = page.locator("#probabilities li")
    shown: dict[str, float] = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        label = row.locator(".prob-label").inner_text()
        value = row.locator(".prob-value").inner_text()
        match = re.fullmatch(r"(\d+(?:\.\d)?)%", value.strip())
        assert match, f"percentage {value!r} of {label!r} is not like '12.3%'"
        shown[label] = float(match.group(1))
    return shown


CONTRAST_SCRIPT = """() => {
    const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (node) => {
        for (let n = node; n; n = n.parentElement) {
            const c = parse(getComputedStyle(n).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const failures = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
        const node = t.parentElement;
        if (!t.textContent.trim() || !node.checkVisibility() || node.closest(":disabled")) continue;
        const style = getComputedStyle(node);
        const fg = lum(parse(style.color).slice(0, 3));
        const bg = lum(background(node));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5)) {
            failures.push(`${t.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
        }
    }
    return failures;
}"""
"""Every visible text whose colour against its nearest opaque background misses WCAG AA, as 'text: ratio'."""
