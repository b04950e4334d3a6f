"""The chat user domain of a bot, mirrored from Userbot: chat users, tags, variables,
segments and feedback (wire contract section 4)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, router, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Concat, Lower, Upper
from django.utils import timezone

from backoffice.sync.models import (
    RECORD_FIELDS,
    SyncedObject,
    SyncRecord,
    SyncState,
    kept_on_record,
    loaded_record,
    record_of,
)
from backoffice.userbot import vocabulary
from backoffice.userbot.iso639 import LANGUAGES
from chatusers.validators import color_validator, phone_validator

LANGUAGE_CHOICES = [(code, code) for code in sorted(LANGUAGES)]
DEFAULT_TAG_COLOR = "#9e9e9e"


class Channel(models.TextChoices):
    WEBCHAT = "webchat", "Webchat"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    TELEGRAM = "telegram", "Telegram"
    API = "api", "API"


class Tag(models.Model):
    """A label chat users carry. Userbot never renames, recolours or deletes a tag."""

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    remote_id = models.CharField("Userbot id", max_length=64, null=True, blank=True, editable=False)
    name = models.CharField(
        max_length=100,
        help_text="Unique in the bot, whatever the case. Once the tag is on Userbot it cannot be renamed.",
    )
    color = models.CharField(
        "colour",
        max_length=7,
        default=DEFAULT_TAG_COLOR,
        validators=[color_validator],
        help_text="#rrggbb. Once the tag is on Userbot it cannot be recoloured.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "remote_id"], condition=Q(remote_id__isnull=False), name="tag_remote_id_unique"
            ),
            models.UniqueConstraint(
                Lower("name"),
                "bot",
                name="tag_name_unique",
                violation_error_code="duplicate_name",
                violation_error_message="This bot already has a tag with this name (in any case).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def validate_constraints(self, exclude: Any = None) -> None:
        _with_field_errors(super().validate_constraints, exclude, {"duplicate_name": "name"})


class ChatUserManager(models.Manager["ChatUser"]):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[ChatUser]:
        """Chat users and their sync records, in one transaction."""
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            raise ValueError("Chat users' bulk_create cannot skip rows: their sync records would not match.")
        objs = list(objs)
        sync_records = [record_of(obj) for obj in objs]  # made while the objects are new
        with transaction.atomic(using=router.db_for_write(ChatUser)):
            created = super().bulk_create(objs, *args, **kwargs)
            for obj, record in zip(created, sync_records, strict=True):
                record.copy_keys(obj)
            ChatUserSync.objects.bulk_create(sync_records, batch_size=kwargs.get("batch_size"))
        return created


class ChatUser(SyncedObject):
    """A person who chatted with the bot, on one channel. Its sync record (Userbot id, sync
    state, snapshot) is a ``ChatUserSync`` row, read and set through the fields' names."""

    record_relation = "sync"
    remote_id = kept_on_record("remote_id")
    sync_state = kept_on_record("sync_state")
    synced_at = kept_on_record("synced_at")
    remote_updated_at = kept_on_record("remote_updated_at")
    sync_error = kept_on_record("sync_error")
    synced_snapshot = kept_on_record("synced_snapshot")

    name = models.CharField(max_length=200, blank=True)
    surname = models.CharField(max_length=200, blank=True)
    email = models.EmailField(null=True, blank=True)
    phone = models.CharField(
        max_length=16,
        null=True,
        blank=True,
        validators=[phone_validator],
        help_text="E.164, e.g. +393331234567",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.API)
    language = models.CharField(max_length=2, choices=LANGUAGE_CHOICES, blank=True, help_text="ISO 639-1")
    tags = models.ManyToManyField(Tag, through="ChatUserTag", blank=True, related_name="chatusers")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField("last seen", null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What a search matches, in one column: one trigram index serves every search, and a
    # row is tested with one LIKE instead of four. Fields are joined by a space, which a
    # search term (split on whitespace) never holds, so no match spans two fields.
    search_text = models.GeneratedField(
        expression=Upper(
            Concat(
                "name",
                Value(" "),
                "surname",
                Value(" "),
                Coalesce("email", Value("")),
                Value(" "),
                Coalesce("phone", Value("")),
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        verbose_name = "chat user"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "client_ref"], name="chatuser_client_ref_unique"),
            models.UniqueConstraint(
                Lower("email"),
                "bot",
                condition=Q(email__isnull=False),
                name="chatuser_email_unique",
                violation_error_code="duplicate_email",
                violation_error_message="Another chat user of this bot has this email (in any case).",
            ),
            models.UniqueConstraint(
                fields=["bot", "phone"],
                condition=Q(phone__isnull=False),
                name="chatuser_phone_unique",
                violation_error_code="duplicate_phone",
                violation_error_message="Another chat user of this bot has this phone.",
            ),
        ]
        # Each serves an admin list ordered newest first: unfiltered, or filtered by one column.
        indexes = [
            models.Index(fields=["created_at", "id"], name="chatuser_created"),
            models.Index(fields=["bot", "created_at", "id"], name="chatuser_bot_created"),
            models.Index(fields=["channel", "created_at", "id"], name="chatuser_channel_created"),
            models.Index(fields=["language", "created_at", "id"], name="chatuser_language_created"),
            models.Index(fields=["last_seen_at"], name="chatuser_last_seen"),
        ]

    def __str__(self) -> str:
        full_name = f"{self.name} {self.surname}".strip()
        return full_name or self.email or self.phone or f"Chat user #{self.pk}"

    objects = ChatUserManager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """The chat user and, beside it, what of its sync record is new or named in
        ``update_fields`` (a record not read with the chat user is left as it is)."""
        update_fields = kwargs.pop("update_fields", None)
        adding = self._state.adding
        record = record_of(self) if adding else loaded_record(self)
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(ChatUser)):
            if update_fields is None:
                super().save(*args, **kwargs)
                if record is not None:
                    record.copy_keys(self)
                    record.save(force_insert=adding, using=kwargs.get("using"))
                return
            names = set(update_fields)
            on_record = names & set(RECORD_FIELDS)
            if names - on_record:
                super().save(*args, update_fields=names - on_record, **kwargs)
            if "created_at" in names:
                on_record.add("created_at")
                record_of(self).created_at = self.created_at
            if on_record:
                record_of(self).save(update_fields=on_record, using=kwargs.get("using"))

    def validate_constraints(self, exclude: Any = None) -> None:
        _with_field_errors(
            super().validate_constraints, exclude, {"duplicate_email": "email", "duplicate_phone": "phone"}
        )


class ChatUserSync(SyncRecord):
    """A chat user's sync record, in a table of its own: the relay changes it for every
    push, and a narrow row with two indexes costs a quarter of the chat user's wide one
    with thirteen (README, "Where the bookkeeping lives"). The bot and the creation time
    are copies (neither changes), so the admin's list of a bot's unsynced chat users,
    newest first, is one range of one index."""

    chatuser = models.OneToOneField(
        ChatUser, on_delete=models.CASCADE, primary_key=True, related_name="sync", verbose_name="chat user"
    )
    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(editable=False)
    # A digest of Userbot's chat user as last read (every field, as sent), beside
    # ``remote_updated_at``: a pull compares it in bulk and passes over the chat users it
    # matches. Null when unknown: an answer that held no whole chat user, a record from before.
    wire_digest = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "chat user's sync record"
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "remote_id"],
                condition=Q(remote_id__isnull=False),
                name="chatuser_remote_id_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["bot", "sync_state", "-created_at", "-chatuser"],
                name="chatuser_unsynced",
                condition=~Q(sync_state=SyncState.SYNCED),
            )
        ]

    def __str__(self) -> str:
        return f"Sync of chat user #{self.pk}"

    def copy_keys(self, chatuser: ChatUser) -> None:
        """Take the saved chat user's key, and copies of its bot and creation time."""
        self.chatuser_id, self.bot_id, self.created_at = chatuser.pk, chatuser.bot_id, chatuser.created_at


class ChatUserTag(models.Model):
    # No single-column indexes: the unique (chatuser, tag) and the (tag, chatuser) index serve
    # both directions, and each index more slows every bulk tagging of a million rows.
    chatuser = models.ForeignKey(ChatUser, on_delete=models.CASCADE, verbose_name="chat user", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_index=False)

    class Meta:
        verbose_name = "tag"
        constraints = [models.UniqueConstraint(fields=["chatuser", "tag"], name="chatusertag_unique")]
        indexes = [models.Index(fields=["tag", "chatuser"], name="chatusertag_tag")]

    def __str__(self) -> str:
        return str(self.tag)


class Variable(models.Model):
    """A named value set on one chat user; the same name stands for the same variable bot-wide."""

    # Indexed through the unique (chatuser, name) that leads with it.
    chatuser = models.ForeignKey(ChatUser, on_delete=models.CASCADE, related_name="variables", db_index=False)
    name = models.CharField(max_length=200)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["chatuser", "name"],
                name="variable_name_unique",
                violation_error_message="This chat user already has a variable with this name.",
            )
        ]
        indexes = [models.Index(fields=["name", "chatuser"], name="variable_name")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class BotVariable(models.Model):
    """The bot's variable catalogue as ``bot.get-vars`` reports it."""

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=50, blank=True)

    class Meta:
        verbose_name = "bot variable"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["bot", "name"], name="botvariable_unique")]

    def __str__(self) -> str:
        return self.name


# The labels are the admin's; the values must stay exactly the contract's.
vocabulary.require_wire_values("Channel", Channel.values, vocabulary.CHANNELS)


class Feedback(models.Model):
    """A chat user's rating of a chat, read from Userbot and never changed here."""

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    remote_id = models.CharField("Userbot id", max_length=64)
    chatuser = models.ForeignKey(
        ChatUser,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback",
        verbose_name="chat user",
    )
    chatuser_remote_id = models.CharField("chat user's Userbot id", max_length=64, blank=True)
    session_id = models.CharField(max_length=64, blank=True)
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "feedback"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "remote_id"], name="feedback_remote_id_unique"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_to_5"),
        ]
        indexes = [models.Index(fields=["created_at"], name="feedback_created")]

    def __str__(self) -> str:
        return f"{self.rating}/5 on {self.created_at:%Y-%m-%d}"


def _with_field_errors(validate: Any, exclude: Any, fields_by_code: dict[str, str]) -> None:
    """Run ``validate`` and file the errors of expression constraints under their field,
    so a form shows them next to the input that caused them."""
    try:
        validate(exclude=exclude)
    except ValidationError as error:
        errors = error.update_error_dict({})
        kept = []
        for item in errors.pop(NON_FIELD_ERRORS, []):
            field = fields_by_code.get(getattr(item, "code", None) or "")
            if field:
                errors.setdefault(field, []).append(item)
            else:
                kept.append(item)
        if kept:
            errors[NON_FIELD_ERRORS] = kept
        raise ValidationError(errors) from None


from chatusers.import_models import *  # noqa: E402, F403
from chatusers.segment_models import *  # noqa: E402, F403
