"""The JSON log line: one object, the record's extra fields kept, uvicorn's colour copy not."""

from __future__ import annotations

import json
import logging

from main import JsonFormatter


def test_uvicorns_colour_copy_is_left_out_and_extras_kept() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "Started server process [%d]", (42,), None)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    record.passage_id = 7
    line = JsonFormatter().format(record)
    assert "\\u001b" not in line and "\x1b" not in line
    data = json.loads(line)
    assert data["msg"] == "Started server process [42]" and data["passage_id"] == 7
    assert "color_message" not in data
