"""The client's address, as far as it can be trusted."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """Return the client's address, trusting `X-Forwarded-For` for NUM_PROXIES hops only.

    Behind no proxy the header is client input: a client rotating it must
    not escape a limit. Each trusted proxy appends the address it saw.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies = int(settings.NUM_PROXIES)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [part.strip() for part in str(forwarded).split(",")]
    return hops[-min(proxies, len(hops))]
