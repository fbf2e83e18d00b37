"""What leads and auditors check: the compliance report, the dashboard, the access log, and the
saved views of the escalation list."""

from django.urls import path

from escalations.web import evidence_pack_views, export_views, saved_views
from escalations.web.access_log_views import AccessLogView
from escalations.web.dashboard_views import DashboardView

urlpatterns = [
    path("reports/compliance/", export_views.ComplianceReportView.as_view(), name="compliance_report"),
    path(
        "reports/compliance/evidence-pack/",
        evidence_pack_views.period_evidence_pack,
        name="compliance_evidence_pack",
    ),
    path("saved-views/", saved_views.create_saved_view, name="saved_views"),
    path("saved-views/<int:pk>/delete/", saved_views.delete_saved_view, name="saved_view_delete"),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("access-log/", AccessLogView.as_view(), name="access_log"),
]
