"""The rules as dated, cited data: the list, one rule's versions and preview, a new version."""

from django.urls import path

from escalations.web import rules_views

urlpatterns = [
    path("rules/", rules_views.RulesView.as_view(), name="rules"),
    path("rules/<slug:code>/", rules_views.RuleDetailView.as_view(), name="rule_detail"),
    path("rules/<slug:code>/new-version/", rules_views.RuleNewVersionView.as_view(), name="rule_new_version"),
]
