"""The console's server side without a browser: sessions, CSRF, roles, pages (issue 6)."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from typing import Any

import pytest

from api.console.config import ConsoleConfig
from api.console.security import ConsoleSecurity

PASSWORD = "correct-horse"

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@functools.cache
def password_hash() -> str:
    """One argon2 hash per run: hashing takes about a second on the test machines."""
    from services.passwords import hash_password

    return hash_password(PASSWORD)


def add_staff(services: Any, username: str, role: str) -> dict[str, str]:
    """A user row with the shared hash, and bearer headers issued straight by the signer."""
    from models.db import transaction
    from models.people import User

    with transaction(services.sessions) as session:
        session.add(User(username=username, password_hash=password_hash(), role=role))
    return {"Authorization": f"Bearer {services.signer.issue(username, role)}"}


def add_user(client: Any, username: str, role: str) -> str:
    return add_staff(client.app.state.services, username, role)["Authorization"][7:]


def cookie_login(client: Any, username: str, role: str) -> str:
    """Skip the password form (argon2 again) by setting the session cookie the form would."""
    services = client.app.state.services
    signer = ConsoleSecurity(services.settings.signing_key(), ConsoleConfig()).signer
    client.cookies.set("parkgate_session", signer.issue(username, role))
    return csrf_of(client.get("/console").text)


def csrf_of(html: str) -> str:
    match = CSRF_META.search(html)
    assert match and match.group(1), "page has no CSRF token"
    return match.group(1)


def console_login(client: Any, username: str, password: str = PASSWORD) -> str:
    """Log in through the form like a browser; returns the CSRF token of the console page."""
    page = client.get("/console/login")
    token = CSRF_FIELD.search(page.text)
    assert token is not None
    response = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/console")
    assert home.status_code == 200
    return csrf_of(home.text)


@pytest.fixture
def guard_csrf(client: Any) -> str:
    add_user(client, "guard", "guard")
    return cookie_login(client, "guard", "guard")


def test_login_page_is_chinese_utf8_and_refuses_wrong_passwords(client: Any) -> None:
    add_user(client, "guard", "guard")
    assert client.get("/console", follow_redirects=False).headers["location"].startswith(
        "/console/login"
    )
    page = client.get("/console/login")
    assert page.status_code == 200
    assert '<meta charset="utf-8">' in page.text and 'lang="zh-CN"' in page.text
    assert "登录" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    token = CSRF_FIELD.search(page.text)
    assert token is not None
    wrong = client.post(
        "/console/login",
        data={"username": "guard", "password": "wrong-password", "csrf_token": token.group(1)},
    )
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.text
    assert "parkgate_session" not in client.cookies


def test_session_cookie_flags_and_secure_when_configured(client: Any) -> None:
    add_user(client, "guard", "guard")
    page = client.get("/console/login")
    token = CSRF_FIELD.search(page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/console/login",
        data={"username": "guard", "password": "correct-horse", "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("parkgate_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http in tests: auto leaves it off

    from fastapi.testclient import TestClient

    client.app.state.console_config = ConsoleConfig(cookie_secure="always", same_site="lax")
    # A second browser (the login rotated the first one's nonce), over https as in production.
    other = TestClient(client.app, base_url="https://testserver")
    token = CSRF_FIELD.search(other.get("/console/login").text).group(1)  # type: ignore[union-attr]
    secure = other.post(
        "/console/login",
        data={"username": "guard", "password": "correct-horse", "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(c for c in secure.headers.get_list("set-cookie")
                  if c.startswith("parkgate_session="))
    assert "Secure" in cookie and "SameSite=lax" in cookie


def test_posts_without_the_csrf_token_are_refused(client: Any, guard_csrf: str) -> None:
    body = {"action": "open", "reason": "测试开闸"}
    missing = client.post("/api/v1/gates/main-in/actions", json=body)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = client.post("/api/v1/gates/main-in/actions", json=body,
                        headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert client.post("/api/v1/alarms/1/ack").status_code == 403
    assert client.post("/api/v1/passages/1/resolve",
                       json={"resolution": "deny", "reason": "测试"}).status_code == 403
    assert client.post("/console/logout", follow_redirects=False).status_code == 403
    assert client.post("/console/login", data={"username": "guard",
                                               "password": "correct-horse"}).status_code == 403

    ok = client.post("/api/v1/gates/main-in/actions", json=body,
                     headers={"X-CSRF-Token": guard_csrf})
    assert ok.status_code == 200, ok.text
    # A token bound to another session's nonce does not work either.
    client.cookies.delete("parkgate_csrf")
    client.cookies.set("parkgate_csrf", "planted-nonce")
    replay = client.post("/api/v1/gates/main-in/actions", json=body,
                         headers={"X-CSRF-Token": guard_csrf})
    assert replay.status_code == 403


def test_a_guard_gets_a_friendly_refusal_on_admin_pages(client: Any, guard_csrf: str) -> None:
    # Visitor passes are a guard's job too (the API lets staff create them): not refused.
    for path in ("/console/admin/users", "/console/admin/households",
                 "/console/admin/lists", "/console/admin/audit"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "无权访问" in page.text and "此页面仅限管理员使用" in page.text
    assert client.get("/api/v1/audit").status_code == 403  # the cookie works for the API too
    refused = client.post("/console/admin/users", data={
        "username": "mallory", "password": "long-enough-pw", "role": "admin",
        "csrf_token": guard_csrf})
    assert refused.status_code == 403
    home = client.get("/console")
    assert "/console/admin/users" not in home.text  # no admin links for a guard


def test_admin_manages_users_and_a_deactivated_guard_is_logged_out(app_factory: Any) -> None:
    admin_client = app_factory()
    add_user(admin_client, "admin", "admin")
    csrf = cookie_login(admin_client, "admin", "admin")
    created = admin_client.post("/console/admin/users", data={
        "username": "xiaowang", "password": "booth-password-1", "role": "guard",
        "csrf_token": csrf}, follow_redirects=False)
    assert created.status_code == 303
    page = admin_client.get("/console/admin/users")
    assert 'data-user="xiaowang"' in page.text and "用户已创建" not in page.text
    duplicate = admin_client.post("/console/admin/users", data={
        "username": "xiaowang", "password": "booth-password-1", "role": "guard",
        "csrf_token": csrf})
    assert "already exists" in duplicate.text
    # Two accounts a person cannot tell apart on this page or in the audit log are refused.
    for lookalike in ("XiaoWang", "xiao wang", "xiao\u0000wang"):
        refused = admin_client.post("/console/admin/users", data={
            "username": lookalike, "password": "booth-password-1", "role": "guard",
            "csrf_token": csrf}, follow_redirects=False)
        assert "error=" in refused.headers["location"], lookalike
    users = admin_client.get("/console/admin/users").text
    assert users.count("data-user=") == 2  # admin and xiaowang only

    from fastapi.testclient import TestClient

    guard = TestClient(admin_client.app)
    console_login(guard, "xiaowang", "booth-password-1")

    from models.people import User

    with admin_client.app.state.services.sessions() as session:
        user_id = session.query(User.id).filter(User.username == "xiaowang").scalar()
        admin_id = session.query(User.id).filter(User.username == "admin").scalar()
    off = admin_client.post(f"/console/admin/users/{user_id}/active",
                            data={"active": "false", "csrf_token": csrf}, follow_redirects=False)
    assert off.status_code == 303
    assert guard.get("/console", follow_redirects=False).status_code == 303
    back_to_login = guard.get("/console")  # followed: lands on the login form, no loop
    assert back_to_login.status_code == 200 and 'name="password"' in back_to_login.text
    self_off = admin_client.post(f"/console/admin/users/{admin_id}/active",
                                 data={"active": "false", "csrf_token": csrf})
    assert "不能停用自己的账号" in self_off.text
    audit = admin_client.get("/api/v1/audit", params={"action": "user"}).json()
    assert {r["action"] for r in audit["items"]} == {"user.create", "user.deactivate"}


def test_idle_session_expires_and_logout_clears_it(client: Any, guard_csrf: str) -> None:
    security = client.app.state.console_security
    stale = security.signer.issue("guard", "guard", now=time.time() - 3600)
    client.cookies.delete("parkgate_session")
    client.cookies.set("parkgate_session", stale)
    page = client.get("/console", follow_redirects=False)
    assert page.status_code == 303 and "expired=1" in page.headers["location"]
    # The server cannot tell why the cookie is no good: the notice does not guess "idle".
    expired = client.get(page.headers["location"]).text
    assert "登录已过期，请重新登录" in expired and "长时间未操作" not in expired

    client.cookies.clear()
    csrf = console_login(client, "guard")
    keep = client.post("/console/keepalive", headers={"X-CSRF-Token": csrf})
    assert keep.status_code == 200
    bye = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert bye.status_code == 303
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert "已退出登录" in client.get(bye.headers["location"]).text

    # The page's own idle time-out says why the guard is out, and leads back to that page.
    csrf = console_login(client, "guard")
    idle = client.post("/console/logout", data={"csrf_token": csrf, "idle": "1",
                                                "next": "/console/admin/passes"},
                       follow_redirects=False)
    assert idle.status_code == 303 and "idle=1" in idle.headers["location"]
    notice = client.get(idle.headers["location"]).text
    assert "长时间未操作" in notice and "/console/admin/passes" in notice


def test_language_switch_and_pages_render(client: Any) -> None:
    add_user(client, "admin", "admin")
    csrf = cookie_login(client, "admin", "admin")
    switched = client.post("/console/lang", data={"lang": "en", "csrf_token": csrf,
                                                  "next": "/console"}, follow_redirects=False)
    assert switched.status_code == 303
    home = client.get("/console")
    assert "Live passages" in home.text and 'lang="en"' in home.text
    for path in ("/console/admin/users", "/console/admin/households", "/console/admin/passes",
                 "/console/admin/lists", "/console/admin/audit?user=admin&since=2026-01-01",
                 "/console/fragments/review", "/console/fragments/alarms"):
        assert client.get(path).status_code == 200, path
    assert client.get("/console/static/live.js").status_code == 200
    assert client.get("/console/static/..%2Fapp.py").status_code == 404
    assert client.get("/console/static/nothing.js").status_code == 404
    assert client.get("/console/fragments/passage/999").status_code == 404
    redirect = client.get("/console/login?next=https://evil.example/", follow_redirects=False)
    assert redirect.headers["location"] == "/console"


def test_the_console_has_an_icon_that_browsers_keep(client: Any) -> None:
    """Browsers ask every site for /favicon.ico; its 404 was an error in the browser's console
    on every console page. Before and after login, the pages name the icon and it is served
    with a long cache, so a booth screen asks for it once."""
    import io
    from xml.etree import ElementTree

    from PIL import Image

    add_user(client, "guard", "guard")
    login_page = client.get("/console/login").text
    cookie_login(client, "guard", "guard")
    for page in (login_page, client.get("/console").text):
        assert '<link rel="icon" href="/favicon.ico" sizes="32x32">' in page
        assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page
    client.cookies.clear()  # a browser asks with or without a session
    served = {}
    for path, media_type in (("/favicon.ico", "image/x-icon"), ("/favicon.svg", "image/svg+xml")):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(media_type), path
        assert "max-age=31536000" in answer.headers["cache-control"], path
        served[path] = answer.content
    icon = Image.open(io.BytesIO(served["/favicon.ico"]))
    assert icon.size == (32, 32)
    pixels = icon.convert("RGBA")
    # A grey post, a red and white arm, on the console's dark blue.
    assert pixels.getpixel((7, 20)) == (0x9F, 0xB0, 0xC0, 255)
    assert pixels.getpixel((12, 13)) == (0xD6, 0x45, 0x45, 255)
    assert pixels.getpixel((16, 13)) == (0xF3, 0xF6, 0xF9, 255)
    assert pixels.getpixel((20, 24)) == (0x0F, 0x17, 0x20, 255)
    svg = ElementTree.fromstring(served["/favicon.svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and len(svg) > 3


def test_login_throttle_counts_failures_per_user_and_address() -> None:
    from api.console.throttle import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=lambda: now[0], first_pause_s=10)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.5", "guard") == 0
        throttle.failed("10.0.0.5", "Guard")
    assert throttle.retry_after("10.0.0.5", "guard") == 10
    assert throttle.retry_after("10.0.0.6", "guard") == 0  # another booth is not locked out
    assert throttle.retry_after("10.0.0.5", "admin") == 0
    # Each further failure doubles the pause (a colleague's typos cost seconds, not minutes).
    now[0] += 10
    assert throttle.retry_after("10.0.0.5", "guard") == 0
    throttle.failed("10.0.0.5", "guard")
    assert throttle.retry_after("10.0.0.5", "guard") == 20
    now[0] += 20
    throttle.failed("10.0.0.5", "guard")
    assert throttle.retry_after("10.0.0.5", "guard") == 40
    now[0] += 61
    assert throttle.retry_after("10.0.0.5", "guard") == 0
    throttle.failed("10.0.0.5", "guard")
    throttle.succeeded("10.0.0.5", "guard")
    assert throttle.retry_after("10.0.0.5", "guard") == 0
    with pytest.raises(ValueError, match="max_failures"):
        LoginThrottle(max_failures=0)


def test_login_refusals_are_friendly_pages(client: Any) -> None:
    from api.console.throttle import LoginThrottle

    add_user(client, "guard", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=1)
    stale = client.post("/console/login", data={"username": "guard", "password": "x" * 8,
                                                "csrf_token": "stale"})
    assert stale.status_code == 403 and "页面已过期" in stale.text
    token = CSRF_FIELD.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    form = {"username": "guard", "password": "wrong-password", "csrf_token": token}
    assert client.post("/console/login", data=form).status_code == 401
    throttled = client.post("/console/login", data={**form, "password": PASSWORD})
    assert throttled.status_code == 429 and "登录失败次数过多" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0


class StreamRequest:
    """What event_stream reads of its request: the app, the session cookie, the headers."""

    def __init__(self, app: Any, cookie: str) -> None:
        self.app = app
        self.headers: dict[str, str] = {}
        self.cookies = {"parkgate_session": cookie}

    async def is_disconnected(self) -> bool:
        return False


def stream_chunks(request: StreamRequest, services: Any, during: Any) -> list[str]:
    """The stream's chunks, with a 0.05 s heartbeat, until it ends by itself; ``during(n)``
    is called after the n-th chunk (to publish, log out, expire)."""
    import asyncio

    from api.routes.events import event_stream

    async def run() -> list[str]:
        stream = event_stream(request, services, heartbeat_s=0.05)  # type: ignore[arg-type]
        chunks: list[str] = []
        async with asyncio.timeout(10):
            async for chunk in stream:
                chunks.append(chunk)
                during(len(chunks))
        return chunks

    return asyncio.run(run())


def test_event_stream_relays_bus_events_and_ends_when_the_session_expires(
    app_factory: Any,
) -> None:
    import json

    from controllers.events import Event, EventBus
    from tests.conftest import services_of

    client = app_factory()
    # A bus of its own, on this test's loop (the app's is bound to the app's).
    services = dataclasses.replace(services_of(client), bus=EventBus())
    add_staff(services, "guard", "guard")
    request = StreamRequest(client.app, services.signer.issue("guard", "guard"))

    def during(n: int) -> None:
        if n == 1:
            services.bus.publish(Event("passage", {"id": 7, "plate": "闽A12345"}))
        if n == 3:  # after a heartbeat: the session runs out
            request.cookies = {"parkgate_session": services.signer.issue("guard", "guard", now=0)}

    chunks = stream_chunks(request, services, during)
    # The hello tells the page how often it hears from the stream at least (live.js counts
    # a stream silent for two of them as lost).
    assert chunks[0] == 'retry: 3000\nevent: hello\ndata: {"heartbeat_s": 0.05}\n\n'
    event, data = chunks[1].split("\n")[:2]
    assert event == "event: passage"
    assert json.loads(data.removeprefix("data: "))["data"] == {"id": 7, "plate": "闽A12345"}
    # An event, not an SSE comment, which EventSource hands to no script.
    assert chunks[2] == "event: ping\ndata: {}\n\n"
    assert len(chunks) <= 4  # the expired session ends it at the next heartbeat
    assert services.bus.subscriber_count == 0


@pytest.mark.parametrize("ending", ["logged_out", "deactivated"])
def test_a_busy_event_stream_ends_once_its_session_is_over(app_factory: Any, ending: str) -> None:
    """A guard logged out from another computer, or an account an admin deactivated: the
    stream ends within a heartbeat though events keep coming (on a busy shift the stream is
    never quiet for one), and the page's next connection gets the login prompt."""
    import time

    from api.deps import ended_sessions
    from controllers.events import Event, EventBus
    from models.db import transaction
    from models.people import User
    from tests.conftest import services_of

    client = app_factory()
    # A bus of its own, on this test's loop (the app's is bound to the app's).
    services = dataclasses.replace(services_of(client), bus=EventBus())
    add_staff(services, "guard", "guard")
    request = StreamRequest(client.app, services.signer.issue("guard", "guard", session_id="s1"))
    ended_at: list[int] = []

    def during(n: int) -> None:
        # (Not left to a timeout: Python 3.11's wait_for loses a cancellation whose inner
        # wait has just finished, and on this stream it always has.)
        assert n < 100, "the stream went on after its session was over"
        services.bus.publish(Event("passage", {"id": n}))  # a car with every chunk
        time.sleep(0.01)
        if n == 5:
            ended_at.append(n)
            if ending == "logged_out":
                ended_sessions(client.app.state).end("s1", time.time() + 600)
            else:
                with transaction(services.sessions) as session:
                    user = session.query(User).filter_by(username="guard").one()
                    user.active = False

    chunks = stream_chunks(request, services, during)
    assert ended_at == [5]
    # Never quiet for a heartbeat: no ping, the session was checked all the same.
    assert [c for c in chunks[1:] if not c.startswith("event: passage")] == []
    # 0.05 s heartbeat, 0.01 s a chunk: ended within about ten more.
    assert len(chunks) < 5 + 15, len(chunks)
    assert services.bus.subscriber_count == 0
