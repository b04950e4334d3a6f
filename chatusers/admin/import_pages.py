"""The pages of a CSV import in the admin: upload, column mapping, dry run, live progress,
cancel, run for real, rejected rows and undo.

These pages collect the operator's choices and show results; reading the file,
validating, writing and recording the history (LogEntry) happen in
``chatusers.imports``, the same services the shell command calls.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from chatusers.admin.import_access import can_import, can_view_imports
from chatusers.admin.import_forms import MappingForm, UploadForm, max_upload_bytes
from chatusers.admin.import_sample import sample_rows
from chatusers.import_models import ImportChange, ImportJob, ImportMapping
from chatusers.imports import selectors, services, undo
from chatusers.imports.encoding import ImportRejected
from chatusers.imports.reading import DELIMITER_NAMES, size_text
from chatusers.models import BotVariable, Tag

# Statuses after which nothing about a job moves any more.
FINISHED = frozenset({"done", "failed", "cancelled", "undone"})


class ImportPagesAdmin(admin.ModelAdmin):
    """The pages of an import, each an admin view under the import's URLs."""

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
            undoable=undoable(job) and can_import(request.user),
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
        if not undoable(job):
            self.message_user(request, "This import cannot be undone.", messages.ERROR)
            return HttpResponseRedirect(self._url("progress", job.pk))
        if request.method == "POST":
            try:
                counts = undo.import_job_undo(job=job, actor=request.user)
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


def undoable(job: ImportJob) -> bool:
    # A cancelled or failed run may have written some chunks before it stopped.
    return not job.dry_run and job.status in {"done", "cancelled", "failed"}


def _channel_layer_is_in_memory() -> bool:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return backend.endswith("InMemoryChannelLayer")
