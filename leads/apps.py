from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from leads import sync  # noqa: F401  (registers the kind with the sync engine)
        from leads.operations import register

        register()
