"""The confirmation page of a bulk action: how many rows it will change, on the selection or
on everything the filters and search match, and the form it asks for, then the action once
confirmed: inside the request for a selection, which is at most a page, and as a long
operation in a worker for everything the list matches, which may be a million rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin, helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from backoffice.operations.admin import progress_url
from backoffice.operations.models import Operation
from backoffice.operations.services import operation_start

TEMPLATE = "admin/chatusers/bulk_confirmation.html"
# A changelist's own parameters that do not choose which rows are listed.
NOT_A_FILTER = {"p", "o", "_changelist_filters"}


def chosen_filters(request: HttpRequest) -> list[str]:
    """The list's filters and search, as ``key=value``."""
    return [f"{key}={value}" for key, value in request.GET.items() if key not in NOT_A_FILTER]


def on_everything(request: HttpRequest) -> bool:
    """Whether the action is on every row the list matches, not on the rows ticked."""
    return request.POST.get("select_across") == "1"


def scope_words(request: HttpRequest, noun: str) -> str:
    """Which rows an action took, in words for the history: the list's filter and search,
    and either every ``noun`` they match or the selected ids."""
    filters = chosen_filters(request)
    described = f"filter {', '.join(filters)}" if filters else "no filter"
    if on_everything(request):
        return f"{described}; every {noun} matching it"
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    shown = ", ".join(selected[:50]) + (f" and {len(selected) - 50} more" if len(selected) > 50 else "")
    return f"{described}; selected ids {shown}"


def confirm_bulk(
    model_admin: ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str,
    submit_label: str,
    apply: Callable[[QuerySet[Any], dict[str, Any]], str],
    counted: Callable[[int], str],
    form_class: type[forms.Form] | None = None,
    destructive: bool = False,
    start: Callable[[QuerySet[Any], dict[str, Any]], Operation] | None = None,
) -> HttpResponse | None:
    """Show ``counted(n)`` rows and the form; once posted and valid, ``apply`` the action to
    the queryset with the form's data and tell the operator what it says, or, on everything
    the list matches, ``start`` it as a long operation and show its progress. Only a
    ``destructive`` action gets the admin's red delete styling."""
    form = None
    if form_class is not None:
        form = form_class(request.POST if request.POST.get("post") else None)
    select_across = on_everything(request)
    if request.POST.get("post") and (form is None or form.is_valid()):
        data = form.cleaned_data if form else {}
        if select_across and start is not None:
            return HttpResponseRedirect(progress_url(start(queryset, data)))
        model_admin.message_user(request, apply(queryset, data), messages.SUCCESS)
        return None
    noun = model_admin.model._meta.verbose_name
    scope = f"every {noun} matching the current filters and search" if select_across else "the selected"
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "summary": f"This applies to {counted(queryset.count())} ({scope}).",
        "form": form,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": select_across,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "destructive": destructive,
        "media": model_admin.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)


def start_on_everything(
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    kind: str,
    title: str,
    params: dict[str, Any] | None = None,
    one: str = "",
    many: str = "",
) -> Operation:
    """Start ``kind`` as a long operation on every row of ``queryset`` (what the list
    matches), titled ``title`` and the list's filters; its rows are counted as ``many``
    (the model's plural by default), and its page leads back to the list."""
    opts = queryset.model._meta
    one, many = one or str(opts.verbose_name), many or str(opts.verbose_name_plural)
    filters = [chosen for chosen in chosen_filters(request) if not chosen.endswith("=")]
    return operation_start(
        kind=kind,
        title=f"{title}: {many} matching {', '.join(filters)}" if filters else f"{title}: all {many}",
        noun=many,
        actor=request.user,
        queryset=queryset,
        scope=scope_words(request, one),
        params={**(params or {}), "back_url": request.get_full_path()},
    )
