"""Settings for bench/fast_path.py: the middleware chosen apart from the handler.

`BENCH_MIDDLEWARE=fast` serves the fast path's middleware (on the event loop),
`stock` Django's own, whichever handler DJANGO_FAST_PATH picks; so each part's
gain is measured alone. Not for serving.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import FAST_PATH_MIDDLEWARE, STOCK_MIDDLEWARE

MIDDLEWARE = list(
    FAST_PATH_MIDDLEWARE
    if os.environ.get("BENCH_MIDDLEWARE") == "fast"
    else STOCK_MIDDLEWARE
)
