"""The live page at `/`, in a real browser: headless Chromium from Debian's packages loads it,
and messages, presence changes and operator broadcasts sent from outside appear in its DOM."""
import json
import shutil
import urllib.request

import pytest
from websockets.sync.client import connect

from browser import HeadlessChromium

pytestmark = pytest.mark.skipif(
    not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")), reason="Chromium is not installed"
)

TOKEN = "browser-test-token-0123456789"
TIMEOUT = 30


def admin(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


def log_text() -> str:
    return "document.getElementById('log').innerText"


def connected_page(browser, port: int):
    """The live page of the server on `port`, connected; and the client id it shows."""
    page = browser.open_page(f"http://127.0.0.1:{port}/")
    page.wait_for("document.getElementById('status').textContent === 'connected'")
    me = page.wait_for("document.getElementById('client').textContent !== '?' && document.getElementById('client').textContent")
    return page, me


def subscribe_without_presence(page):
    page.evaluate("document.getElementById('presence').checked = false; document.getElementById('subscribe').click()")
    page.wait_for(f"{log_text()}.includes('subscribed to #lobby')")


def logged_numbers(page) -> list:
    """The `n` of every #lobby message in the page's log, in order; asserts it never said it could not recover."""
    lines = page.evaluate("[...document.querySelectorAll('#log li')].map(li => li.textContent)")
    assert not any(text.startswith("not recovered") for text in lines)
    return [json.loads(text.split(": ", 1)[1])["n"] for text in lines if text.startswith("#lobby ")]


def test_the_page_shows_messages_presence_and_broadcasts(server):
    s = server("--admin-token", TOKEN)
    with HeadlessChromium() as browser:
        page, me = connected_page(browser, s.port)
        page.evaluate("document.getElementById('subscribe').click()")
        page.wait_for(f"[...document.querySelectorAll('#members li')].some(li => li.dataset.user === {json.dumps(me)})")

        with connect(s.url, open_timeout=TIMEOUT) as other:
            other_id = json.loads(other.recv(timeout=TIMEOUT))["client"]
            other.send(json.dumps({"type": "subscribe", "channel": "lobby", "presence": True}))
            page.wait_for(f"[...document.querySelectorAll('#members li')].some(li => li.dataset.user === {json.dumps(other_id)})")

            admin(s.port, "/api/publish", {"channel": "lobby", "data": {"hello": "from the api"}})
            page.wait_for(f"{log_text()}.includes('from the api')")
            admin(s.port, "/api/broadcast", {"data": "operator says hi"})
            page.wait_for("[...document.querySelectorAll('#log li.broadcast')].some(li => li.textContent.includes('operator says hi'))")

            # the page's own publish reaches the other client
            page.evaluate("document.getElementById('data').value = '{\"typed\": \"in the page\"}'")
            page.evaluate("document.getElementById('publish').click()")
            while True:
                message = json.loads(other.recv(timeout=TIMEOUT))
                if message["type"] == "message" and message["from"] == me:
                    break
            assert message["data"] == {"typed": "in the page"}
        # the other client left: the page hears it once
        page.wait_for(f"![...document.querySelectorAll('#members li')].some(li => li.dataset.user === {json.dumps(other_id)})")
        page.wait_for(f"{log_text()}.includes({json.dumps(other_id + ' left #lobby')})")
        assert not page.errors, page.errors


def test_the_page_recovers_what_was_published_while_its_connection_was_cut(server):
    s = server("--admin-token", TOKEN, "--history-size", "1000")
    with HeadlessChromium() as browser:
        page, me = connected_page(browser, s.port)
        subscribe_without_presence(page)
        for n in range(5):
            admin(s.port, "/api/publish", {"channel": "lobby", "data": {"n": n}})
        page.wait_for(f"{log_text()}.includes('{{\"n\":4}}')")

        # Cut the page's connection (a kick that tells it to come back) and publish while it is away.
        admin(s.port, f"/api/clients/{me}/kick", {"reason": "cut", "reconnect": True})
        page.wait_for("document.getElementById('status').textContent.startsWith('closed')")
        for n in range(5, 105):
            admin(s.port, "/api/publish", {"channel": "lobby", "data": {"n": n}})
        page.wait_for("document.getElementById('status').textContent === 'connected'")
        page.wait_for(f"{log_text()}.includes('recovered #lobby')")
        admin(s.port, "/api/publish", {"channel": "lobby", "data": {"n": 105}})
        page.wait_for(f"{log_text()}.includes('{{\"n\":105}}')")
        assert logged_numbers(page) == list(range(106))
        assert not page.errors, page.errors


def test_the_client_script_is_served(server):
    s = server()
    with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/switchboard.js", timeout=TIMEOUT) as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert "class Switchboard" in response.read().decode()


def test_the_page_recovers_across_a_restart_of_its_clustered_node(server, redis):
    from test_cluster import api_publish, node

    a = node(server, redis, "node-a", "--history-size", "1000")
    b = node(server, redis, "node-b", "--history-size", "1000")
    with HeadlessChromium() as browser:
        page, _ = connected_page(browser, a.port)
        subscribe_without_presence(page)
        for n in range(3):
            api_publish(b, "lobby", {"n": n})
        page.wait_for(f"{log_text()}.includes('{{\"n\":2}}')")

        # The page's node restarts (history lives in Redis) while the other node keeps publishing.
        a.terminate()
        page.wait_for("document.getElementById('status').textContent.startsWith('closed')")
        for n in range(3, 53):
            assert api_publish(b, "lobby", {"n": n})[0] == 200
        node(server, redis, "node-a", "--history-size", "1000", port=a.port)
        page.wait_for("document.getElementById('status').textContent === 'connected'", timeout=60)
        page.wait_for(f"{log_text()}.includes('recovered #lobby')")
        api_publish(b, "lobby", {"n": 53})
        page.wait_for(f"{log_text()}.includes('{{\"n\":53}}')")
        assert logged_numbers(page) == list(range(54))
