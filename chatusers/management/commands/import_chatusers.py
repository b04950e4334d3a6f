"""``manage.py import_chatusers FILE --bot SITEKEY``: the admin's CSV import, from a shell.

It runs the same services in the foreground, draws a progress bar on stderr, and prints
the final counts and where the rejected rows are.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.userbot.models import Bot
from chatusers.import_models import ImportJob, ImportMapping
from chatusers.imports.encoding import ImportRejected
from chatusers.imports.run import import_job_run
from chatusers.imports.selectors import import_progress
from chatusers.imports.services import import_job_configure, import_job_create, import_job_discard

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Import chat users from a CSV file into a bot, as the admin's import does."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--bot", required=True, metavar="SITEKEY")
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")
        parser.add_argument("--mode", choices=ImportJob.Mode.values, default=ImportJob.Mode.UPSERT)
        parser.add_argument("--key", choices=ImportJob.MatchKey.values, default=ImportJob.MatchKey.EMAIL)
        policy = parser.add_mutually_exclusive_group()
        policy.add_argument("--overwrite", dest="overwrite", action="store_const", const="overwrite")
        policy.add_argument("--fill-blanks", dest="overwrite", action="store_const", const="fill_blanks")
        parser.add_argument(
            "--tag", action="append", default=[], metavar="NAME", help="Put on every row (repeat)."
        )
        parser.add_argument("--mapping", metavar="NAME", help="A mapping saved in the admin, by name.")
        parser.add_argument(
            "--user", default="", help="Who the import is recorded under (default: first superuser)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        bot = Bot.objects.filter(sitekey=options["bot"]).first()
        if bot is None:
            raise CommandError(f"No bot has the sitekey {options['bot']}")
        actor = self._actor(options["user"])
        try:
            with _open_regular_file(path) as handle:
                job = import_job_create(bot=bot, actor=actor, upload=File(handle, name=path.name))  # type: ignore[arg-type]
        except ImportRejected as rejected:
            raise CommandError(rejected.message) from None
        if job.encoding_note:
            self.stderr.write(f"Encoding: {job.encoding_note}")
        try:
            self._configure(job, bot, options)
        except BaseException:
            # The job will never run: it and its copy of the file go.
            import_job_discard(job=job)
            raise
        skipped = [column for column, target in job.mapping.items() if target == "skip"]
        if skipped:
            self.stderr.write(f"Skipped columns: {', '.join(skipped)}")
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
        import_job_run(job_id=job.pk, progress=self._draw)
        job.refresh_from_db()
        self._draw(job, import_progress(job=job)["rate_per_s"], 0.0)
        self.stderr.write("")
        verb = "Dry run, nothing written:" if job.dry_run else "Done:"
        self.stdout.write(
            f"{verb} {job.created} created, {job.updated} updated, {job.unchanged} unchanged, "
            f"{job.rejected} rejected of {job.rows_done} rows ({job.get_status_display().lower()})."
        )
        if job.error:
            self.stdout.write(job.error)
        if job.rejected and job.rejected_file:
            self.stdout.write(f"Rejected rows: {job.rejected_file.path}")
        if job.status == ImportJob.Status.FAILED:
            raise CommandError("The import failed.")

    def _configure(self, job: ImportJob, bot: Bot, options: dict[str, Any]) -> None:
        mapping = dict(job.mapping)
        if options["mapping"]:
            saved = ImportMapping.objects.filter(bot=bot, name=options["mapping"]).first()
            if saved is None:
                raise CommandError(f"The bot has no saved mapping named {options['mapping']}")
            mapping.update(
                {column: target for column, target in saved.columns.items() if column in job.header}
            )
        try:
            import_job_configure(
                job=job,
                mapping=mapping,
                mode=options["mode"],
                match_key=options["key"],
                overwrite=options["overwrite"] or ImportJob.Overwrite.OVERWRITE,
                extra_tags=options["tag"],
                dry_run=options["dry_run"],
            )
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from None

    def _actor(self, username: str) -> Any:
        users = get_user_model().objects
        user = (
            users.filter(username=username).first() if username else users.filter(is_superuser=True).first()
        )
        if user is None:
            raise CommandError("No user to record the import under: create a superuser or pass --user.")
        return user

    def _draw(self, job: ImportJob, rate: float, eta: float | None) -> None:
        total = job.rows_total or 0
        share = job.rows_done / total if total else 1.0
        filled = int(BAR_WIDTH * share)
        left = f"{eta:.0f}s left" if eta is not None else ""
        bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
        line = f"\r{bar} {job.rows_done}/{total} rows  {rate:,.0f} rows/s  {left}   "
        self.stderr.write(line, ending="")
        self.stderr.flush()


def _open_regular_file(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; CommandError otherwise. A
    symbolic link is refused, not followed (it could hand the import any file this process
    may read), and the check holds for the file opened, not for a name that could change."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CommandError(f"No file at {path}") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise CommandError(f"{path} is a symbolic link: give the path of the file itself.") from None
        raise CommandError(f"Cannot open {path}: {error.strerror}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise CommandError(f"{path} is {kind}: give the path of a CSV file.")
    return os.fdopen(descriptor, "rb")
