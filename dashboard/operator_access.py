"""Who may act: anyone may watch; Pause, Resume, speed and Acknowledge need the operator.

The demo makes one secret per run and prints it twice: inside a login link
(`/login?token=...`) and as the password for `/login`'s form. Logging in sets an HttpOnly,
SameSite=Strict session cookie; every action checks that cookie on the server
(`is_operator`), whatever the page shows. Sessions end with the process.

    >>> access = OperatorAccess("s3cret-s3cret-s3cret")
    >>> access.login("wrong") is None, access.login("s3cret-s3cret-s3cret") is not None
    (True, True)
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections import OrderedDict
from urllib.parse import parse_qs

COOKIE = "factory_sim_operator"
MIN_SECRET = 16
MAX_SESSIONS = 64  # browsers logged in at once; the oldest session ends first
FAILED_LOGIN_DELAY_S = 1.0  # slows guessing; a 16-character secret is out of reach anyway
LOGIN_FORM = """<!doctype html><meta charset="utf-8"><title>factory-sim: operator login</title>
<style>body{font:18px sans-serif;margin:3em;background:#e0e0e0}input{font-size:18px}</style>
<h1>Operator login</h1>
<p>Watching needs no login. Pause, Resume, speed and Acknowledge need the password the
demo printed when it started (or open the login link it printed).</p>
<form method="post" action="/login"><input type="password" name="password" autofocus
 autocomplete="current-password"> <button type="submit">Log in</button></form>
<p><a href="/">back to the dashboard (read-only)</a></p>"""


class OperatorAccess:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"the operator secret needs at least {MIN_SECRET} characters")
        self._secret = secret.encode()
        self._sessions: OrderedDict[str, None] = OrderedDict()

    def login(self, offered: str) -> str | None:
        """A new session id if `offered` is the secret, else None."""
        if not hmac.compare_digest(offered.encode()[:256], self._secret):
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[session] = None
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def is_operator(self, cookies: dict[str, str]) -> bool:
        session = cookies.get(COOKIE)
        return session is not None and session in self._sessions

    def add_routes(self, app) -> None:
        """`GET /login?token=...`, `GET /login` (the form), `POST /login` (the password)."""
        from fastapi import Request
        from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

        async def answer(offered: str | None):
            session = self.login(offered) if offered else None
            if session is None:
                await asyncio.sleep(FAILED_LOGIN_DELAY_S)
                return PlainTextResponse("login refused: wrong token or password\n", 403)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
            return response

        @app.get("/login", include_in_schema=False)
        async def login_page(token: str | None = None):
            if token is None:
                return HTMLResponse(LOGIN_FORM)
            return await answer(token)

        @app.post("/login", include_in_schema=False)
        async def login_form(request: Request):
            body = await request.body()
            if len(body) > 1024:
                return PlainTextResponse("login refused: form too large\n", 413)
            fields = parse_qs(body.decode("utf-8", "replace"))
            return await answer((fields.get("password") or [""])[0])
