"""An escalation's own pages, under /escalations/ in the escalations namespace: the lists, logging one,
its page and every action on it (the legal ones and redaction included), and its audit trail as CSV."""

from django.urls import path

from escalations.web import (
    authority_views,
    evidence_pack_views,
    export_views,
    knowledge_views,
    legal_views,
    redaction_views,
    report_correction_views,
    rules_views,
    take_views,
)
from escalations.web import escalation_views as views

app_name = "escalations"
urlpatterns = [
    path("", views.EscalationListView.as_view(), name="list"),
    path("mine/", views.MyQueueView.as_view(), name="mine"),
    path("bulk/", views.BulkActionView.as_view(), name="bulk"),
    path("new/", views.EscalationCreateView.as_view(), name="create"),
    path("<int:pk>/", views.EscalationDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.EscalationEditView.as_view(), name="edit"),
    path("<int:pk>/report/", views.RecordReportView.as_view(), name="report"),
    path("<int:pk>/correct-report/", report_correction_views.CorrectReportView.as_view(), name="correct_report"),
    path("<int:pk>/take/", take_views.TakeView.as_view(), name="take"),
    path("<int:pk>/knowledge/", knowledge_views.ConfirmKnowledgeView.as_view(), name="knowledge"),
    path("<int:pk>/preservation/", views.PreservationView.as_view(), name="preservation"),
    path("<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
    path("<int:pk>/dismiss/", views.DismissView.as_view(), name="dismiss"),
    path("<int:pk>/close/", views.CloseView.as_view(), name="close"),
    path("<int:pk>/reopen/", views.ReopenView.as_view(), name="reopen"),
    path("<int:pk>/breach/", views.AmendBreachView.as_view(), name="breach"),
    path("<int:pk>/extend/", legal_views.ExtendPreservationView.as_view(), name="extend"),
    path("<int:pk>/release/", legal_views.RequestReleaseView.as_view(), name="release"),
    path("<int:pk>/release/approve/", legal_views.ApproveReleaseView.as_view(), name="release_approve"),
    path("<int:pk>/evidence/", legal_views.EvidenceItemView.as_view(), name="evidence"),
    path("<int:pk>/destinations/", legal_views.DestinationReportView.as_view(), name="destinations"),
    path("<int:pk>/authorities/triage/", authority_views.TriageView.as_view(), name="authority_triage"),
    path("<int:pk>/authorities/acknowledge/", authority_views.AcknowledgeView.as_view(), name="authority_acknowledge"),
    path("<int:pk>/evidence-pack/", evidence_pack_views.escalation_evidence_pack, name="evidence_pack"),
    path("<int:pk>/audit.csv", export_views.audit_trail_csv, name="audit_csv"),
    path("<int:pk>/reevaluate/", rules_views.ReevaluateRulesView.as_view(), name="reevaluate"),
    path("<int:pk>/redact/", redaction_views.RedactionRequestView.as_view(), name="redact"),
]
