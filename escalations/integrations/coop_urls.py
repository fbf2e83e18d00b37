"""Coop's preservation endpoint, under /integrations/coop/."""

from django.urls import path

from escalations.integrations import coop_views

urlpatterns = [
    path("preservation/", coop_views.preservation, name="coop_preservation"),
]
