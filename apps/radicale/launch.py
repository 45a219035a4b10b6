"""Radicale in a Sandstorm grain: maps the Sandstorm session onto Radicale's header login.

sandstorm-http-bridge sends X-Sandstorm-Username / -User-Id / -Permissions with every request
and strips any X-Sandstorm-* a client sent, but it passes other client headers through, so
X-Remote-User (what auth type http_x_remote_user reads) must be overwritten here, never trusted.

Everyone who can open the grain works on the same collections: the grain, not the person, is
the unit of sharing, so all sessions log in as the one principal "grain". A session without the
"edit" permission (a view-only share link) may only read.
"""
import sys
import urllib.parse

import radicale
import radicale.__main__
import radicale.server
from radicale.log import logger

PRINCIPAL = "grain"
READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"))
FORBIDDEN = b"This grain is shared with you read-only.\n"


class SandstormApplication(radicale.Application):
    def __call__(self, environ, start_response):
        environ["HTTP_X_REMOTE_USER"] = PRINCIPAL
        environ.pop("HTTP_AUTHORIZATION", None)  # the web UI's form sends Basic credentials
        permissions = environ.get("HTTP_X_SANDSTORM_PERMISSIONS", "").split(",")
        if "edit" not in permissions and environ.get("REQUEST_METHOD") not in READ_METHODS:
            user = urllib.parse.unquote(environ.get("HTTP_X_SANDSTORM_USERNAME", ""))
            logger.info("Refused %s %s from %r: no edit permission",
                        environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), user)
            start_response("403 Forbidden", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(FORBIDDEN)))])
            return [FORBIDDEN]
        return super().__call__(environ, start_response)


radicale.server.Application = SandstormApplication
sys.argv = ["radicale", "--config", "/opt/radicale/config"] + sys.argv[1:]
radicale.__main__.run()
