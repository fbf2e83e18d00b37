"""Signing in and out, the second factor, passwords, a person's own profile and its reminder channels,
and the security events of accounts."""

from django.urls import include, path
from two_factor import views as tf

from escalations.accounts.two_factor import open_while
from escalations.web import notification_views, oidc_views, password_views
from escalations.web import two_factor_views as tfv
from escalations.web.home_views import SignInView
from escalations.web.lockout_views import LockedAccountsView
from escalations.web.profile_views import ProfileView
from escalations.web.security_event_views import SecurityEventsView
from escalations.web.sign_out_views import SignOutView

# django-two-factor-auth's pages under our own paths (its own login wizard is not used: signing in
# stays /accounts/login/, escalations/accounts/two_factor.py). The names are the ones its views reverse.
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
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/login/verify/", tfv.verify, name="two_factor_verify"),
    # Sign-in through the company's identity provider (OpenID Connect); 404 while OIDC_ISSUER is unset.
    path("accounts/oidc/authenticate/", oidc_views.ProviderSignInView.as_view(), name="oidc_authentication_init"),
    path("accounts/oidc/callback/", oidc_views.ProviderCallbackView.as_view(), name="oidc_authentication_callback"),
    path("accounts/logout/", open_while("verify", "enroll")(SignOutView.as_view()), name="logout"),
    path("accounts/confirm-password/", tfv.confirm_password, name="confirm_password"),
    path("accounts/password/", password_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/two-factor/", include((two_factor_patterns, "two_factor"))),
    path("security-events/", SecurityEventsView.as_view(), name="security_events"),
    path("accounts/locked/", LockedAccountsView.as_view(), name="locked_accounts"),
    path("accounts/profile/", ProfileView.as_view(), name="profile"),
    path("accounts/profile/test/<str:channel>/", notification_views.send_test, name="profile_test_channel"),
    path(
        "accounts/profile/webhook/new-secret/",
        notification_views.replace_webhook_secret,
        name="profile_webhook_secret",
    ),
]
