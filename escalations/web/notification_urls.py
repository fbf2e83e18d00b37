"""The bell's in-app notifications, and the service's own health and metrics for the engineer on call."""

from django.urls import path

from escalations.web import metrics_views, notification_views

urlpatterns = [
    path("notifications/", notification_views.NotificationListView.as_view(), name="notifications"),
    path("notifications/unread/", notification_views.unread_count, name="notifications_unread"),
    path("notifications/read-all/", notification_views.mark_all_read, name="notifications_read_all"),
    path("notifications/<int:pk>/read/", notification_views.mark_read, name="notification_read"),
    path("notifications/<int:pk>/open/", notification_views.open_notification, name="notification_open"),
    path("healthz", notification_views.healthz, name="healthz"),
    path("metrics", metrics_views.metrics, name="metrics"),
]
