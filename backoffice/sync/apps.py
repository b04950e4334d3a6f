from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "backoffice.sync"
    label = "sync"
    verbose_name = "Synchronisation"
