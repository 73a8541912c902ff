from django.apps import AppConfig

from core.metrics import register_state


class UtilitiesConfig(AppConfig):
    name = "utilities"

    def ready(self) -> None:
        # Imported here, as Django's own apps import their signal handlers:
        # the collector reads a model, which exists only once apps are loaded.
        from utilities.metrics import JobCollector

        register_state(JobCollector())
