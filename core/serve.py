"""`python -m core.serve APP [uvicorn options]`: uvicorn, exiting 0 after a clean stop.

The same command line and environment variables as `uvicorn` (WEB_CONCURRENCY,
UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN, ...). On SIGTERM or SIGINT uvicorn stops
accepting, lets in-flight requests finish, shuts the application down and
then re-raises the signal it caught; with one process that ends it as
"killed by SIGTERM" (exit status 143). Here the re-raised signal exits 0, as
a supervisor expects of a graceful stop. A second signal during the grace
period still forces the exit, as with uvicorn.
"""

import signal
import sys
from types import FrameType

from uvicorn.main import main


def _stopped(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    main()
