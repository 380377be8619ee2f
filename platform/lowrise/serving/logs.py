"""Log lines as JSON (LOWRISE_LOG_FORMAT=json): one object a line, for log collectors.

Every line has `ts` (UTC, ISO 8601), `level`, `logger` and `message`; a request's line adds
the fields the web layer passes as `extra={"fields": {...}}` (method, path, status...); an
exception adds `error` with its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def handler(fmt: str) -> logging.Handler:
    """A handler to stderr that writes `fmt` ("json" or "text") lines."""
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    return h


def configure(fmt: str) -> None:
    """Log Lowrise's own lines (INFO and up) to stderr; with "json", every line of the
    process as JSON (the handlers there were are replaced), else in text where nothing else
    set up logging."""
    if fmt == "json":
        root = logging.getLogger()
        if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
            logging.basicConfig(handlers=[handler("json")], force=True)
    else:
        logging.basicConfig(format=TEXT)
    logging.getLogger("lowrise").setLevel(logging.INFO)
