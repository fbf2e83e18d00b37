from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from two_factor import views as tf

from escalations import (
    export_views,
    legal_views,
    metrics_views,
    notification_views,
    password_views,
    redaction_views,
    saved_views,
    token_views,
)
from escalations import two_factor_views as tfv
from escalations.access_log_views import AccessLogView
from escalations.api import urls as api_urls
from escalations.dashboard_views import DashboardView
from escalations.security_event_views import SecurityEventsView
from escalations.sign_out_views import SignOutView
from escalations.two_factor import open_while
from escalations.views import ProfileView

# django-two-factor-auth's pages under our own paths (its own login wizard is not used: signing in
# stays /accounts/login/, escalations/two_factor.py). The names are the ones its views reverse.
# open_while: what a session that still owes a code ("verify") or an authenticator ("enroll") may open.
two_factor_patterns = [
    path("", tf.ProfileView.as_view(), name="profile"),
    path("setup/", open_while("enroll")(tfv.EnrolView.as_view()), name="setup"),
    path("setup/qrcode/", open_while("enroll")(tfv.QRCodeView.as_view()), name="qr"),
    path("setup/complete/", tfv.SetupCompleteView.as_view(), name="setup_complete"),
    path("backup-codes/", tfv.BackupCodesView.as_view(), name="backup_tokens"),
    path("disable/", tfv.DisableView.as_view(), name="disable"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="escalations:mine", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/login/verify/", tfv.verify, name="two_factor_verify"),
    path("accounts/logout/", open_while("verify", "enroll")(SignOutView.as_view()), name="logout"),
    path("accounts/confirm-password/", tfv.confirm_password, name="confirm_password"),
    path("accounts/password/", password_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/two-factor/", include((two_factor_patterns, "two_factor"))),
    path("security-events/", SecurityEventsView.as_view(), name="security_events"),
    path("accounts/profile/", ProfileView.as_view(), name="profile"),
    path("accounts/profile/test/<str:channel>/", notification_views.send_test, name="profile_test_channel"),
    path(
        "accounts/profile/webhook/new-secret/",
        notification_views.replace_webhook_secret,
        name="profile_webhook_secret",
    ),
    path("notifications/", notification_views.NotificationListView.as_view(), name="notifications"),
    path("notifications/read-all/", notification_views.mark_all_read, name="notifications_read_all"),
    path("notifications/<int:pk>/read/", notification_views.mark_read, name="notification_read"),
    path("notifications/<int:pk>/open/", notification_views.open_notification, name="notification_open"),
    path("healthz", notification_views.healthz, name="healthz"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke, name="token_revoke"),
    path("api/v1/", include((api_urls.v1_patterns, "api"))),
    path("api/", include(api_urls.schema_patterns)),
    path("reports/compliance/", export_views.ComplianceReportView.as_view(), name="compliance_report"),
    path("saved-views/", saved_views.create_saved_view, name="saved_views"),
    path("saved-views/<int:pk>/delete/", saved_views.delete_saved_view, name="saved_view_delete"),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("access-log/", AccessLogView.as_view(), name="access_log"),
    path("escalations/", include("escalations.urls")),
    path("legal-requests/", legal_views.LegalRequestListView.as_view(), name="legal_requests"),
    path("legal-requests/new/", legal_views.LegalRequestCreateView.as_view(), name="legal_request_new"),
    path("legal-requests/<int:pk>/", legal_views.LegalRequestDetailView.as_view(), name="legal_request_detail"),
    path(
        "legal-requests/<int:pk>/respond/", legal_views.RespondLegalRequestView.as_view(), name="legal_request_respond"
    ),
    path("legal-requests/<int:pk>/close/", legal_views.CloseLegalRequestView.as_view(), name="legal_request_close"),
    path("help/", legal_views.HelpView.as_view(), name="help"),
    path("redactions/", redaction_views.redaction_list, name="redactions"),
    path("redactions/<int:pk>/", redaction_views.redaction_detail, name="redaction_detail"),
    path("redactions/<int:pk>/approve/", redaction_views.redaction_approve, name="redaction_approve"),
    path("redactions/<int:pk>/refuse/", redaction_views.redaction_refuse, name="redaction_refuse"),
    path("admin/", admin.site.urls),
]

# JSON under /api/, Django's pages elsewhere (escalations/api/error_pages.py).
handler400 = "escalations.api.error_pages.bad_request"
handler403 = "escalations.api.error_pages.permission_denied"
handler404 = "escalations.api.error_pages.page_not_found"
handler500 = "escalations.api.error_pages.server_error"
