"""factory_boy factories for the knowledge base, automated messages and admin users."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from automation.models import Answer, AutomatedMessage, Button, Condition
from knowledge.models import Interaction
from tests.factories import BotFactory


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"operator{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password("a-long-test-password")


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    bot = factory.SubFactory(BotFactory)
    label = factory.Sequence(lambda n: f"label-{n}")
    question = factory.Sequence(lambda n: f"How do I do thing {n}?")
    answer = factory.Sequence(lambda n: f"Like this, {n}.")
    language = "en"
    enabled = True


class AutomatedMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AutomatedMessage

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"Welcome {n}")
    trigger = "page_visit"
    delay_seconds = 0
    enabled = True


class ConditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Condition

    message = factory.SubFactory(AutomatedMessageFactory)
    position = factory.Sequence(lambda n: n)
    field = "url"
    op = "contains"
    value = "/pricing"


class AnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Answer

    message = factory.SubFactory(AutomatedMessageFactory)
    position = factory.Sequence(lambda n: n)
    type = "text"
    text = "Hello!"


class ButtonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Button

    answer = factory.SubFactory(AnswerFactory, type="buttons")
    position = factory.Sequence(lambda n: n)
    label = "Yes"
    value = "yes"
