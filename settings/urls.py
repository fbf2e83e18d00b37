from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from escalations import notification_views
from escalations.views import ProfileView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="escalations:mine", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", ProfileView.as_view(), name="profile"),
    path("accounts/profile/test/<str:channel>/", notification_views.send_test, name="profile_test_channel"),
    path("notifications/", notification_views.NotificationListView.as_view(), name="notifications"),
    path("notifications/read-all/", notification_views.mark_all_read, name="notifications_read_all"),
    path("notifications/<int:pk>/read/", notification_views.mark_read, name="notification_read"),
    path("notifications/<int:pk>/open/", notification_views.open_notification, name="notification_open"),
    path("healthz", notification_views.healthz, name="healthz"),
    path("escalations/", include("escalations.urls")),
    path("admin/", admin.site.urls),
]
