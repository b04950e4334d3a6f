from django.apps import AppConfig


class LiveChatConfig(AppConfig):
    name = "livechat"
    verbose_name = "Live chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from livechat import timeline  # adds the chat user's chats to their timeline

        timeline.register()
