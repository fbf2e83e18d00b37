"""Django's admin, on our admin site (escalations.web.admin_site): it is the app named in INSTALLED_APPS
instead of "django.contrib.admin", and imports nothing else so that it loads before the models."""

from django.contrib.admin.apps import AdminConfig


class GuardedAdminConfig(AdminConfig):
    default_site = "escalations.web.admin_site.GuardedAdminSite"
