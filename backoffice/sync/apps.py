from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "backoffice.sync"
    label = "sync"
    verbose_name = "Synchronisation"

    def ready(self) -> None:
        from backoffice.sync.operations import register

        register()
