"""A snapshot deleted by retention or the low-space cleanup while its passage stays: the
booth's row and review card, and 通行记录, show 照片已删除 in the photo's place, not a broken
image that opened an empty lightbox. Debian chromium on a real server."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, enter_as

pytestmark = pytest.mark.browser


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((240, 320, 3), 120, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def two_waiting_cars(services: Any) -> tuple[int, int]:
    """Two cars waiting for the guard, each with a photo; the newer one's file is then
    deleted. Their ids: (photo deleted, photo kept)."""
    from models.db import transaction
    from models.events import Passage

    start = datetime.now(UTC) - timedelta(minutes=5)
    passages = []
    with transaction(services.sessions) as session:
        for seconds, plate in ((0, "粤B22222"), (1, "粤B11111")):
            at = start + timedelta(seconds=seconds)
            passages.append(Passage(
                at=at, gate_id="main-in", direction="in", plate=plate, decision="review",
                reason="unknown_plate", confidence=0.9,
                snapshot_path=services.snapshots.save("main-in", at, jpeg()),
            ))
        session.add_all(passages)
    kept, gone = passages
    (services.snapshots.root / str(gone.snapshot_path)).unlink()
    return gone.id, kept.id


def test_a_deleted_photo_shows_in_its_place_on_the_booth_page_and_in_history(
    live_server: LiveServer, new_page: Any
) -> None:
    gone, kept = two_waiting_cars(live_server.services)
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    gone_row = page.locator(f'#passage-rows tr[data-id="{gone}"]')
    for place in (gone_row, page.locator(f'.review-card[data-passage="{gone}"]')):
        expect(place.locator(".thumb-gone")).to_have_text("照片已删除")
        expect(place.locator("img")).to_have_count(0)
    kept_row = page.locator(f'#passage-rows tr[data-id="{kept}"]')
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=kept_row.locator("img.thumb").element_handle())
    # The newest row's photo was the table's one tab stop: the kept photo is now.
    expect(kept_row.locator(".thumb-button")).to_have_attribute("tabindex", "0")
    gone_row.locator(".thumb-gone").click()
    expect(page.locator("#lightbox")).not_to_have_attribute("open", "")

    page.goto("/console/history")
    row = page.locator(f'#history-rows tr[data-id="{gone}"]')
    expect(row.locator(".thumb-gone")).to_have_text("照片已删除")
    expect(page.locator(f'#history-rows tr[data-id="{kept}"] img.thumb')).to_have_count(1)
