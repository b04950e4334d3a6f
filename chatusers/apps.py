from django.apps import AppConfig


class ChatUsersConfig(AppConfig):
    name = "chatusers"
    verbose_name = "Chat users"

    def ready(self) -> None:
        from chatusers import sync  # noqa: F401  (registers the chat user kind with the sync engine)
        from chatusers.operations import register as register_operations
        from chatusers.timeline_sources import register as register_timeline_sources

        register_timeline_sources()
        register_operations()
