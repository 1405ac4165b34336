"""The server's one log format: every line on stderr starts with the time, the level and where it comes from.

    2026-12-06 02:12:08,616 INFO impl.access: 127.0.0.1 GET /me 200 0.9ms
    2026-12-06 02:12:09,002 WARNING psycopg.pool: error connecting in 'sessions-store': ...

granian's own lines, psycopg's pool and every other library's go through
the root logger's handler, so none is left without a time (the logging
module's last-resort handler prints the bare message). With
`--log-format json` each line is instead one JSON object (`time`, `level`,
`logger`, `message`; the access log adds `client`, `method`, `path`,
`status`, `ms`), for log shippers that parse rather than read. stdout
carries only the two lines tools read at start-up.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def iso_time(seconds: float) -> str:
    """UTC time with milliseconds, as the JSON lines carry it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(log_format: str = "text") -> dict[str, Any]:
    """Return the dictConfig of the supervisor, the workers and the side processes."""
    formatter: dict[str, Any] = (
        {"()": "impl.logs.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
        },
        # Every logger without a handler of its own ends here: libraries'
        # warnings (psycopg's pool among them) get the same format.
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "impl": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
