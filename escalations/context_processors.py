from typing import Any

from django.http import HttpRequest

from .permissions import Action, can, roles_of


def roles(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's roles and what the navigation may offer them."""
    user = getattr(request, "user", None)
    return {
        "user_roles": sorted(roles_of(user)),
        "can_create": can(user, Action.CREATE),
        "can_view": can(user, Action.VIEW),
    }
