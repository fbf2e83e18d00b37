from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("escalations.urls")),
    path("admin/", admin.site.urls),
]

# JSON under /api/, Django's pages elsewhere (escalations/api/error_pages.py).
handler400 = "escalations.api.error_pages.bad_request"
handler403 = "escalations.api.error_pages.permission_denied"
handler404 = "escalations.api.error_pages.page_not_found"
handler500 = "escalations.api.error_pages.server_error"
