"""Log formatting: JSON lines in production, readable text in development.

Everything logs through the standard library (`logging.getLogger`); structlog
only formats. Each line carries what is bound to the request's context
(`request_id`, config/request_log.py), also from the request's threads, since
asgiref runs sync code in a copy of the caller's context.
"""

from typing import Any

import structlog

_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, json: bool, level: str) -> dict[str, Any]:
    """Return the LOGGING setting: one handler on stderr, JSON or text."""
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _PRE_CHAIN,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Security events: failed logins, token issue/revoke, denials, throttling.
            "security": {"level": "INFO"},
            # One line per request (config/request_log.py).
            "request": {"level": "INFO"},
        },
    }
