"""Redaction requests: a lead asks, a different admin decides."""

from django.urls import path

from escalations.web import redaction_views

urlpatterns = [
    path("redactions/", redaction_views.redaction_list, name="redactions"),
    path("redactions/<int:pk>/", redaction_views.redaction_detail, name="redaction_detail"),
    path("redactions/<int:pk>/approve/", redaction_views.redaction_approve, name="redaction_approve"),
    path("redactions/<int:pk>/refuse/", redaction_views.redaction_refuse, name="redaction_refuse"),
]
