from django.apps import AppConfig


class UserbotConfig(AppConfig):
    name = "backoffice.userbot"
    label = "userbot"
    verbose_name = "Userbot connection"
