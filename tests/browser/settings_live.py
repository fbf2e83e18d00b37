"""settings.prod as the browser tests serve it (settings_prodlike: its CSP, cookies and headers), with
the pages refreshing every 2 seconds instead of every minute so that a test sees a refresh without
waiting a minute, and without the leads' authenticator requirement (the two-factor flow has its own
test), so that two leads can act."""

from tests.browser.settings_prodlike import *  # noqa: F403

LIVE_REFRESH_SECONDS = 2
REQUIRE_2FA = False
