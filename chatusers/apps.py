from django.apps import AppConfig


class ChatUsersConfig(AppConfig):
    name = "chatusers"
    verbose_name = "Chat users"
