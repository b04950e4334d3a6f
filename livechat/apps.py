from django.apps import AppConfig


class LiveChatConfig(AppConfig):
    name = "livechat"
    verbose_name = "Live chat"
    default_auto_field = "django.db.models.BigAutoField"
