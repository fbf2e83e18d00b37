"""Law-enforcement requests, and the help page on the rules the tracker applies."""

from django.urls import path

from escalations.web import legal_views

urlpatterns = [
    path("legal-requests/", legal_views.LegalRequestListView.as_view(), name="legal_requests"),
    path("legal-requests/new/", legal_views.LegalRequestCreateView.as_view(), name="legal_request_new"),
    path("legal-requests/<int:pk>/", legal_views.LegalRequestDetailView.as_view(), name="legal_request_detail"),
    path(
        "legal-requests/<int:pk>/respond/", legal_views.RespondLegalRequestView.as_view(), name="legal_request_respond"
    ),
    path("legal-requests/<int:pk>/close/", legal_views.CloseLegalRequestView.as_view(), name="legal_request_close"),
    path("help/", legal_views.HelpView.as_view(), name="help"),
]
