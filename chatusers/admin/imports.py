"""The CSV import of chat users in the admin: upload, column mapping, dry run, live
progress, and the history of imports with their rejected rows and undo.

These pages collect the operator's choices and show results; reading the file,
validating, writing and recording the history (LogEntry) happen in
``chatusers.imports.services``, the same services the shell command calls.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from backoffice.userbot.models import Bot
from chatusers.import_models import ImportChange, ImportJob, ImportMapping
from chatusers.imports import reading, selectors, services
from chatusers.imports.mapping import VARIABLE_NAME_MAX, VARIABLE_PREFIX
from chatusers.imports.reading import DELIMITER_NAMES, ImportRejected, size_text
from chatusers.models import BotVariable, Tag

# Statuses after which nothing about a job moves any more.
FINISHED = frozenset({"done", "failed", "cancelled", "undone"})
SAMPLE_ROWS = 5
# The sample is read from the start of the file only, so a huge file or a huge first
# field costs the mapping page no more than this.
SAMPLE_BYTES = 256 * 1024
SAMPLE_CELL_CHARS = 60
VARIABLE = "var"
TARGET_CHOICES = [
    ("name", "name"),
    ("surname", "surname"),
    ("email", "email"),
    ("phone", "phone"),
    ("channel", "channel"),
    ("language", "language"),
    ("tags", "tags"),
    ("client_ref", "client ref"),
    ("remote_id", "Userbot id"),
    (VARIABLE, "variable…"),
    ("skip", "skip"),
]
IMPORT_PERMISSIONS = ("chatusers.add_chatuser", "chatusers.change_chatuser")


def can_import(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Importing creates and changes chat users, so it takes both permissions."""
    return bool(user.is_active and user.has_perms(IMPORT_PERMISSIONS))


def can_view_imports(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whoever may see chat users may see how imports changed them."""
    return bool(
        user.is_active
        and (
            can_import(user)
            or user.has_perm("chatusers.view_chatuser")
            or user.has_perm("chatusers.view_importjob")
        )
    )


def max_upload_bytes() -> int:
    return int(settings.CHATUSER_IMPORT_MAX_BYTES)


def progress_group(job_id: int) -> str:
    """The channel-layer group the import publishes its progress to."""
    return f"chatuser-import-{job_id}"


# --- forms --------------------------------------------------------------------------------


class UploadForm(forms.Form):
    bot = forms.ModelChoiceField(queryset=Bot.objects.order_by("name"), empty_label=None)
    # An empty file is the services' to refuse, with the same words as every unreadable file.
    file = forms.FileField(label="CSV file", allow_empty_file=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"At most {size_text(max_upload_bytes())} and {settings.CHATUSER_IMPORT_MAX_COLUMNS} columns. "
            "UTF-8 (with or without BOM), UTF-16 or Latin-1; comma, semicolon or tab between the "
            "columns; a header row first."
        )


def _choices(field_name: str) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in ImportJob._meta.get_field(field_name).choices]


class MappingForm(forms.Form):
    """One target per column of the file, plus how the rows meet the chat users already there."""

    mode = forms.ChoiceField(choices=())
    match_key = forms.ChoiceField(
        choices=(), label="Match key", help_text="How a row finds the chat user it updates."
    )
    overwrite = forms.ChoiceField(
        choices=(), label="Existing values", help_text="What a row does to a field that already has a value."
    )
    extra_tags = forms.CharField(
        required=False,
        label="Tags for every row",
        help_text="Tag names separated by commas, put on every imported chat user.",
    )
    save_as = forms.CharField(
        required=False,
        max_length=100,
        label="Save this mapping as",
        help_text="A name to reuse these column choices for the next file of this bot.",
    )

    def __init__(self, *args: Any, header: list[str], catalogue: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        # The bot's variable catalogue, offered as targets of their own (``var:<name>``).
        self.catalogue_choices = [(f"{VARIABLE_PREFIX}{name}", name) for name in catalogue]
        choices = [*TARGET_CHOICES, *self.catalogue_choices]
        self.fields["mode"].choices = _choices("mode")
        self.fields["match_key"].choices = _choices("match_key")
        self.fields["overwrite"].choices = _choices("overwrite")
        for index, column in enumerate(header):
            self.fields[f"target_{index}"] = forms.ChoiceField(choices=choices, label=column)
            self.fields[f"variable_{index}"] = forms.CharField(
                required=False, max_length=VARIABLE_NAME_MAX, label=f"Variable name for “{column}”"
            )

    @staticmethod
    def initial_for(job: ImportJob, mapping: dict[str, str], catalogue: Sequence[str] = ()) -> dict[str, Any]:
        """The form's initial values from a job and a mapping ({header: target}): a variable
        of the catalogue is chosen as such, any other by name; a column that would be
        skipped and is named like a catalogue variable goes to it."""
        initial: dict[str, Any] = {
            "mode": job.mode,
            "match_key": job.match_key,
            "overwrite": job.overwrite,
            "extra_tags": ", ".join(job.extra_tags or []),
        }
        by_name = {_normalised(name): name for name in catalogue}
        for index, column in enumerate(job.header):
            target = mapping.get(column, "skip")
            if target == "skip" and _normalised(column) in by_name:
                target = f"{VARIABLE_PREFIX}{by_name[_normalised(column)]}"
            if target.startswith(VARIABLE_PREFIX) and target[len(VARIABLE_PREFIX) :] in catalogue:
                initial[f"target_{index}"] = target
            elif target.startswith("var:"):
                initial[f"target_{index}"], initial[f"variable_{index}"] = VARIABLE, target[4:]
            else:
                initial[f"target_{index}"] = target
        return initial

    def columns(self) -> list[ColumnRow]:
        """Per column of the file: its header, its target and variable-name fields as HTML.

        Rendered here rather than by the widgets' templates, which cost milliseconds a field:
        the page of a file with hundreds of columns took seconds."""
        options: dict[str, SafeString] = {}
        rows = []
        for index, column in enumerate(self.header):
            target, variable = self[f"target_{index}"], self[f"variable_{index}"]
            selected = str(target.value() or "")
            if selected not in options:
                options[selected] = format_html(
                    "{}{}",
                    _options(TARGET_CHOICES, selected),
                    format_html(
                        '<optgroup label="The bot\'s variables">{}</optgroup>',
                        _options(self.catalogue_choices, selected),
                    )
                    if self.catalogue_choices
                    else "",
                )
            invalid = mark_safe(' aria-invalid="true"') if target.errors else ""
            value = variable.value()
            rows.append(
                ColumnRow(
                    name=column,
                    target_id=target.auto_id,
                    target=format_html(
                        '<select name="{}" id="{}" required{}>{}</select>',
                        target.html_name,
                        target.auto_id,
                        invalid,
                        options[selected],
                    ),
                    target_errors=_error_list(target.errors),
                    variable=format_html(
                        '<input type="text" name="{}" maxlength="{}" id="{}"{}{}>',
                        variable.html_name,
                        VARIABLE_NAME_MAX,
                        variable.auto_id,
                        format_html(' value="{}"', value) if value else "",
                        mark_safe(' aria-invalid="true"') if variable.errors else "",
                    ),
                    variable_errors=_error_list(variable.errors),
                )
            )
        return rows

    def run_fields(self) -> list[forms.BoundField]:
        """The choices about the run itself, after the columns."""
        return [self[name] for name in ("mode", "match_key", "overwrite", "extra_tags", "save_as")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        mapping: dict[str, str] = {}
        first_column_of: dict[str, str] = {}
        for index, column in enumerate(self.header):
            target = cleaned.get(f"target_{index}")
            variable = (cleaned.get(f"variable_{index}") or "").strip()
            if target is None:
                continue
            if target.startswith(VARIABLE_PREFIX):
                if variable:
                    self.add_error(f"variable_{index}", "A variable name needs the target “variable…”.")
                    continue
            elif target == VARIABLE:
                if not variable:
                    self.add_error(f"variable_{index}", "Name the variable this column fills.")
                    continue
                target = f"var:{variable}"
            elif variable:
                self.add_error(f"variable_{index}", "A variable name needs the target “variable…”.")
                continue
            if target != "skip":
                if target in first_column_of:
                    self.add_error(
                        f"target_{index}",
                        f"Column “{first_column_of[target]}” already maps to {_target_label(target)}.",
                    )
                    continue
                first_column_of[target] = column
            mapping[column] = target
        cleaned["mapping"] = mapping
        names = (cleaned.get("extra_tags") or "").split(",")
        cleaned["extra_tag_names"] = [name.strip() for name in names if name.strip()]
        return cleaned

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the services' errors beside the fields they name, the rest above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.message_dict.items():
            self.add_error(field if field in self.fields else None, errors)


@dataclass(frozen=True)
class ColumnRow:
    """One column of the file on the mapping page, its fields rendered."""

    name: str
    target_id: str
    target: SafeString
    target_errors: SafeString
    variable: SafeString
    variable_errors: SafeString


def _options(choices: Sequence[tuple[str, str]], selected: str) -> SafeString:
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, mark_safe(" selected") if value == selected else "", label) for value, label in choices),
    )


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _error_list(errors: list[str]) -> SafeString:
    if not errors:
        return mark_safe("")
    return format_html(
        '<ul class="errorlist">{}</ul>', format_html_join("", "<li>{}</li>", ((error,) for error in errors))
    )


def _target_label(target: str) -> str:
    if target.startswith("var:"):
        return f"the variable “{target[4:]}”"
    return dict(TARGET_CHOICES).get(target, target)


# --- reading a sample of the file -----------------------------------------------------------


def sample_rows(job: ImportJob, limit: int = SAMPLE_ROWS) -> list[list[str]]:
    """The first ``limit`` data rows, cut to a readable width; a row that cannot be parsed
    shows its error in place of its cells, and so does a first row the sample cannot hold."""
    # The header is read whole, however long: the sample starts after it.
    header_bytes = 4 * (2 * sum(len(column) for column in job.header) + 3 * len(job.header) + 2)
    sample_bytes = SAMPLE_BYTES + header_bytes
    try:
        with job.file.open("rb") as stored:
            head = stored.read(sample_bytes)
            whole = len(head) < sample_bytes or not stored.read(1)
    except (OSError, ValueError):
        return []
    file_format = reading.FileFormat(
        encoding=job.encoding or "utf-8",
        encoding_note=job.encoding_note,
        delimiter=job.delimiter,
        header=job.header,
    )
    try:
        rows = list(islice(reading.read_rows(io.BytesIO(head), file_format), limit + 1))
    except ImportRejected as rejected:
        return [[f"⚠ {rejected.message}"]]
    if not whole and len(rows) <= limit and rows:
        last = rows.pop()  # cut at the edge of the sample
        if not rows:
            # The first row alone runs past the sample: say why rather than show nothing.
            reason = (
                "its quote is still open"
                if "never closed" in last.error
                else "it is longer than the preview reads"
            )
            return [[f"⚠ Row 1 runs past the first {size_text(sample_bytes)} of the file ({reason})."]]
    return [
        [_shorten(cell) for cell in row.cells] if not row.error else [f"⚠ {row.error}"]
        for row in rows[:limit]
    ]


def _shorten(cell: str) -> str:
    cell = cell.replace("\x00", "")
    return cell if len(cell) <= SAMPLE_CELL_CHARS else cell[: SAMPLE_CELL_CHARS - 1] + "…"


# --- the history ---------------------------------------------------------------------------


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Every import, read-only: the pages of a new import and undo hang off its URLs."""

    list_display = [
        "created_at",
        "created_by",
        "file_link",
        "run",
        "status",
        "counts",
        "rejected_rows",
        "undo_link",
    ]
    list_display_links = None
    list_filter = ["status", "dry_run", "mode", "bot"]
    list_select_related = ["bot", "created_by"]
    search_fields = ["original_name"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    list_per_page = 50

    # --- permissions: the history is a record, nobody edits it --------------------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_view_imports(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view_imports(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if can_import(request.user):
            return list(self.list_display)
        return [column for column in self.list_display if column != "undo_link"]

    # --- columns ----------------------------------------------------------------------------

    @admin.display(description="file", ordering="original_name")
    def file_link(self, obj: ImportJob) -> str:
        return format_html(
            '<a href="{}">{}</a><br>{}', self._url("progress", obj.pk), obj.original_name, obj.bot
        )

    @admin.display(description="run", ordering="dry_run")
    def run(self, obj: ImportJob) -> str:
        mode = dict(_choices("mode")).get(obj.mode, obj.mode)
        return f"dry run ({mode.lower()})" if obj.dry_run else mode

    @admin.display(description="counts")
    def counts(self, obj: ImportJob) -> str:
        total = "…" if obj.rows_total is None else obj.rows_total
        return format_html(
            '<span title="created · updated · unchanged · rejected">{} · {} · {} · {}</span>'
            "<br>{} of {} rows",
            obj.created,
            obj.updated,
            obj.unchanged,
            obj.rejected,
            obj.rows_done,
            total,
        )

    @admin.display(description="rejected")
    def rejected_rows(self, obj: ImportJob) -> str:
        if not (obj.rejected and obj.rejected_file):
            return self.get_empty_value_display()
        return format_html('<a href="{}">CSV</a>', self._url("rejected", obj.pk))

    @admin.display(description="undo")
    def undo_link(self, obj: ImportJob) -> str:
        if not _undoable(obj):
            return self.get_empty_value_display()
        return format_html('<a href="{}">Undo…</a>', self._url("undo", obj.pk))

    # --- pages --------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any, name: str, route: str) -> URLPattern:
            return path(route, self.admin_site.admin_view(function), name=f"chatusers_importjob_{name}")

        return [
            view(self.upload_view, "upload", "upload/"),
            view(self.mapping_view, "mapping", "<int:job_id>/mapping/"),
            view(self.progress_view, "progress", "<int:job_id>/progress/"),
            view(self.progress_json_view, "progress_json", "<int:job_id>/progress.json"),
            view(self.push_json_view, "push_json", "<int:job_id>/push.json"),
            view(require_POST(self.cancel_view), "cancel", "<int:job_id>/cancel/"),
            view(require_POST(self.repeat_view), "repeat", "<int:job_id>/repeat/"),
            view(self.rejected_view, "rejected", "<int:job_id>/rejected.csv"),
            view(self.undo_view, "undo", "<int:job_id>/undo/"),
            view(require_POST(self.discard_view), "discard", "<int:job_id>/discard/"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # A job's page is its progress and results; the raw fields add nothing to it.
        job = self._job(request, int(object_id) if object_id.isdigit() else 0, importing=False)
        return HttpResponseRedirect(self._url("progress", job.pk))

    def _url(self, name: str, job_id: int) -> str:
        return reverse(f"{self.admin_site.name}:chatusers_importjob_{name}", args=[job_id])

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        request.current_app = self.admin_site.name
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            **extra,
        }

    def _job(self, request: HttpRequest, job_id: int, *, importing: bool) -> ImportJob:
        allowed = can_import(request.user) if importing else can_view_imports(request.user)
        if not allowed:
            raise PermissionDenied
        return get_object_or_404(ImportJob.objects.select_related("bot", "created_by"), pk=job_id)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not can_import(request.user):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = services.import_job_create(
                    bot=form.cleaned_data["bot"], actor=request.user, upload=form.cleaned_data["file"]
                )
            except ImportRejected as rejected:
                form.add_error("file", str(rejected))
            else:
                return HttpResponseRedirect(self._url("mapping", job.pk))
        context = self._context(
            request, "Import chat users from CSV", form=form, max_bytes=max_upload_bytes()
        )
        return TemplateResponse(request, "admin/chatusers/import/upload.html", context)

    def mapping_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id, importing=True)
        if job.status != "draft":
            return HttpResponseRedirect(self._url("progress", job.pk))
        saved_mappings = ImportMapping.objects.filter(bot=job.bot).order_by("name")
        catalogue = list(
            BotVariable.objects.filter(bot=job.bot).order_by("name").values_list("name", flat=True)
        )
        applied: ImportMapping | None = None
        if request.method == "POST" and "_use_saved" in request.POST:
            applied = saved_mappings.filter(pk=request.POST.get("saved_mapping") or None).first()
            mapping = {**job.mapping, **applied.columns} if applied else job.mapping
            initial = MappingForm.initial_for(job, mapping, catalogue)
            form = MappingForm(initial=initial, header=job.header, catalogue=catalogue)
        elif request.method == "POST":
            form = MappingForm(request.POST, header=job.header, catalogue=catalogue)
            if form.is_valid():
                response = self._configure_and_start(request, job, form)
                if response is not None:
                    return response
        else:
            initial = MappingForm.initial_for(job, job.mapping, catalogue)
            form = MappingForm(initial=initial, header=job.header, catalogue=catalogue)
        context = self._context(
            request,
            f"Map the columns of {job.original_name}",
            job=job,
            form=form,
            sample=sample_rows(job),
            saved_mappings=saved_mappings,
            applied=applied,
            file_size=size_text(job.size_bytes),
            delimiter_name=DELIMITER_NAMES.get(job.delimiter, repr(job.delimiter)),
        )
        return TemplateResponse(request, "admin/chatusers/import/mapping.html", context)

    def _configure_and_start(
        self, request: HttpRequest, job: ImportJob, form: MappingForm
    ) -> HttpResponse | None:
        data = form.cleaned_data
        dry_run = "_import" not in request.POST
        if data["save_as"].strip() and (
            ImportMapping.objects.filter(bot=job.bot, name=data["save_as"].strip())
            .exclude(created_by=request.user)
            .exists()
        ):
            form.add_error("save_as", "Another person's mapping of this bot has this name.")
            return None
        try:
            services.import_job_configure(
                job=job,
                mapping=data["mapping"],
                mode=data["mode"],
                match_key=data["match_key"],
                overwrite=data["overwrite"],
                extra_tags=data["extra_tag_names"],
                dry_run=dry_run,
            )
        except ValidationError as error:
            form.add_service_errors(error)
            return None
        if data["save_as"].strip():
            services.import_mapping_save(
                bot=job.bot, name=data["save_as"].strip(), columns=data["mapping"], actor=request.user
            )
        services.import_job_start(job=job)
        return HttpResponseRedirect(self._url("progress", job.pk))

    def discard_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id, importing=True)
        if services.import_job_discard(job=job):
            self.message_user(request, f"The upload of {job.original_name} was discarded.")
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:chatusers_importjob_upload"))
        self.message_user(request, "The import has started: it can no longer be discarded.", messages.WARNING)
        return HttpResponseRedirect(self._url("progress", job.pk))

    def progress_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id, importing=False)
        if job.status == "draft" and can_import(request.user):
            return HttpResponseRedirect(self._url("mapping", job.pk))
        progress = selectors.import_progress(job=job)
        title = f"{'Dry run of' if job.dry_run else 'Import of'} {job.original_name}"
        context = self._context(
            request,
            title,
            job=job,
            file_size=size_text(job.size_bytes),
            progress=progress,
            finished=job.status in FINISHED,
            may_import=can_import(request.user),
            undoable=_undoable(job) and can_import(request.user),
            socket_path=f"/ws/chatusers/imports/{job.pk}/",
            json_url=self._url("progress_json", job.pk),
            push=selectors.import_push_progress(job=job) if _pushes(job) else None,
            push_url=self._url("push_json", job.pk),
            dead_letters_url=reverse(f"{self.admin_site.name}:sync_outboxentry_dead")
            + f"?bot__id__exact={job.bot_id}",
            # An in-process channel layer never carries the worker's messages to this server.
            poll_only=_channel_layer_is_in_memory(),
        )
        return TemplateResponse(request, "admin/chatusers/import/progress.html", context)

    def progress_json_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        job = self._job(request, job_id, importing=False)
        return JsonResponse(selectors.import_progress(job=job))

    def push_json_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        """How far the chat users the import touched have reached Userbot."""
        job = self._job(request, job_id, importing=False)
        return JsonResponse(selectors.import_push_progress(job=job) if _pushes(job) else {})

    def cancel_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id, importing=True)
        if job.status in FINISHED:
            self.message_user(request, "The import has already finished.", messages.WARNING)
        else:
            services.import_job_cancel(job=job)
            self.message_user(request, "Cancelling: the import stops after the rows it is writing now.")
        return HttpResponseRedirect(self._url("progress", job.pk))

    def repeat_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        dry_run = self._job(request, job_id, importing=True)
        if not (dry_run.dry_run and dry_run.status == "done"):
            self.message_user(request, "Only a finished dry run can be run for real.", messages.ERROR)
            return HttpResponseRedirect(self._url("progress", dry_run.pk))
        try:
            job = services.import_job_run_for_real(dry_run=dry_run, actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(self._url("progress", dry_run.pk))
        return HttpResponseRedirect(self._url("progress", job.pk))

    def rejected_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        job = self._job(request, job_id, importing=False)
        if not (job.rejected and job.rejected_file):
            raise Http404("This import rejected no row.")
        stem = PurePath(job.original_name).stem or "import"
        return FileResponse(
            job.rejected_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-rejected-rows.csv",
            content_type="text/csv; charset=utf-8",
        )

    def undo_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id, importing=True)
        if not _undoable(job):
            self.message_user(request, "This import cannot be undone.", messages.ERROR)
            return HttpResponseRedirect(self._url("progress", job.pk))
        if request.method == "POST":
            try:
                counts = services.import_job_undo(job=job, actor=request.user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                message = f"Import undone: {counts['deleted']} deleted, {counts['restored']} restored."
                if counts["tags_deleted"] or counts["tags_kept"]:
                    message += (
                        f" Of the tags it created, {counts['tags_deleted']} deleted here,"
                        f" {counts['tags_kept']} kept (on Userbot, which never deletes a tag,"
                        " or still used)."
                    )
                self.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:chatusers_importjob_changelist"))
        touched = ImportChange.objects.filter(job=job).aggregate(
            to_delete=Count("pk", filter=Q(created=True)), to_restore=Count("pk", filter=Q(created=False))
        )
        created_tags = Tag.objects.filter(pk__in=job.created_tags or [], bot_id=job.bot_id)
        context = self._context(
            request,
            f"Undo the import of {job.original_name}",
            job=job,
            touched=touched,
            created_tags=created_tags.count(),
            created_tags_on_userbot=created_tags.exclude(remote_id=None).count(),
        )
        return TemplateResponse(request, "admin/chatusers/import/undo_confirmation.html", context)


def _pushes(job: ImportJob) -> bool:
    """A real run that wrote something: what it changed is on its way to Userbot."""
    return not job.dry_run and job.status in {"done", "cancelled", "failed"} and job.created + job.updated > 0


def _undoable(job: ImportJob) -> bool:
    # A cancelled or failed run may have written some chunks before it stopped.
    return not job.dry_run and job.status in {"done", "cancelled", "failed"}


def _channel_layer_is_in_memory() -> bool:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return backend.endswith("InMemoryChannelLayer")
