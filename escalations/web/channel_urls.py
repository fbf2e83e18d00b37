"""Teams' and people's Slack, Teams and PagerDuty channels, and acknowledging reminders."""

from django.urls import path

from escalations.web import channel_views

urlpatterns = [
    path("teams/channels/", channel_views.team_channels, name="team_channels"),
    path("accounts/profile/channels/", channel_views.add_own_channel, name="profile_add_channel"),
    path("channels/<int:pk>/remove/", channel_views.remove_channel, name="channel_remove"),
    path("channels/<int:pk>/test/", channel_views.test_channel, name="channel_test"),
    path("reminders/<int:pk>/acknowledge/", channel_views.acknowledge, name="acknowledge"),
    path("reminders/acknowledge/<str:token>/", channel_views.acknowledge_link, name="acknowledge_link"),
]
