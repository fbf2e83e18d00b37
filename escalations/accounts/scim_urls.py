"""/scim/v2/: SCIM 2.0 for identity providers (escalations.accounts.scim_views). Resource ids are
matched loosely ([^/]+) so that a wrong one is answered 404 in SCIM's format, not by Django's page."""

from django.urls import path, re_path

from escalations.accounts import scim_views

urlpatterns = [
    path("ServiceProviderConfig", scim_views.ServiceProviderConfigView.as_view(), name="scim-service-provider-config"),
    path("ResourceTypes", scim_views.ResourceTypesView.as_view(), name="scim-resource-types"),
    path("ResourceTypes/<str:resource_id>", scim_views.ResourceTypesView.as_view()),
    re_path(r"^Schemas/(?P<resource_id>[^/]+)$", scim_views.SchemasView.as_view()),
    path("Schemas", scim_views.SchemasView.as_view(), name="scim-schemas"),
    path("Users", scim_views.UsersView.as_view(), name="scim-users"),
    path("Users/<str:resource_id>", scim_views.UsersView.as_view(), name="scim-user"),
    path("Groups", scim_views.GroupsView.as_view(), name="scim-groups"),
    path("Groups/<str:resource_id>", scim_views.GroupsView.as_view(), name="scim-group"),
    path("Bulk", scim_views.NotImplementedView.as_view()),
    path("Me", scim_views.NotImplementedView.as_view()),
    path(".search", scim_views.NotImplementedView.as_view()),
    re_path(r"^.*$", scim_views.NotFoundView.as_view()),
]
