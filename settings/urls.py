from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from escalations.views import ProfileView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="escalations:mine", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", ProfileView.as_view(), name="profile"),
    path("escalations/", include("escalations.urls")),
    path("admin/", admin.site.urls),
]
