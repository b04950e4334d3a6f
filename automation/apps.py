from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Automated messages"

    def ready(self) -> None:
        from automation import sync  # noqa: F401  (registers the kind with the sync engine)
