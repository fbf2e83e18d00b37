"""Service tokens for the API, created and revoked by the person they act for."""

from django.urls import path

from escalations.web import token_views

urlpatterns = [
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke, name="token_revoke"),
]
