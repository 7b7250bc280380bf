import json
import os

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

WEBHOOK_VARIABLES = ("HELPDESK_NEW_TICKET_WEBHOOK_URLS", "HELPDESK_FOLLOWUP_WEBHOOK_URLS")


@csrf_exempt
def set_webhooks(request: HttpRequest) -> HttpResponse:
    """Test control: django-helpdesk reads its webhook URLs from the environment at every
    call, so tests point them at the bot they run without restarting the server."""
    if request.method != "POST" or request.META.get("REMOTE_ADDR") != "127.0.0.1":
        return HttpResponse(status=403)
    wanted = json.loads(request.body)
    for name in WEBHOOK_VARIABLES:
        value = wanted.get(name) or ""
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    return HttpResponse(status=204)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("helpdesk/", include("helpdesk.urls", namespace="helpdesk")),
    path("test-control/webhooks/", set_webhooks),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]
