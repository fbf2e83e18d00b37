"""The one URL table: every page and the API, one module per feature. settings/urls.py adds only the
admin. Each address is a contract (bookmarks, links in reminders, the API's clients)."""

from django.urls import include, path

from escalations.api import urls as api_urls
from escalations.web import home_views

urlpatterns = [
    path("", home_views.home),
    path("", include("escalations.web.account_urls")),
    path("", include("escalations.web.notification_urls")),
    path("", include("escalations.web.channel_urls")),
    path("", include("escalations.web.token_urls")),
    path("api/v1/", include((api_urls.v1_patterns, "api"))),
    path("api/", include(api_urls.schema_patterns)),
    path("scim/v2/", include("escalations.accounts.scim_urls")),
    path("", include("escalations.web.compliance_urls")),
    path("escalations/", include("escalations.web.escalation_urls")),
    path("", include("escalations.web.legal_urls")),
    path("", include("escalations.web.redaction_urls")),
    path("integrations/coop/", include("escalations.integrations.coop_urls")),
    path("", include("escalations.web.rules_urls")),
]
