"""A second API serving tests/utilities/samples.py through the same mechanism."""

from django.urls import path
from ninja import NinjaAPI

from core import errors
from tests.utilities import samples
from utilities.api import build_utilities_router
from utilities.registry import Registry

registry = Registry()
registry.add(samples.boom, execution="inline")
registry.add(samples.wrong_type, execution="inline")
registry.add(samples.worker_pid, execution="process")
registry.add(samples.slow, execution="thread", timeout_s=0.2)
registry.add(samples.nap, timeout_s=0.2)
registry.add(samples.refuse, execution="process")

api = NinjaAPI(title="Samples", version="test", urls_namespace="samples")
errors.install(api)
api.add_router("/utilities", build_utilities_router(registry))

urlpatterns = [path("api/", api.urls)]
