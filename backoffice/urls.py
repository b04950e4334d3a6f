from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from backoffice.accounts.csp import csp_report
from backoffice.health import liveness, sync_health

urlpatterns: list[URLPattern | URLResolver] = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("health/", liveness, name="health"),
    path("health/sync/", sync_health, name="health_sync"),
]
if settings.CSP_REPORTS:
    urlpatterns.append(path(settings.CSP_REPORT_PATH.strip("/") + "/", csp_report, name="csp_report"))
