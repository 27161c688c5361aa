"""Drive a terminal program as a person would: tmux runs it, send-keys types, capture-pane reads."""
import os
import subprocess
import time


class Tmux:
    def __init__(self, command: str, width: int = 120, height: int = 40, env: dict | None = None):
        self.socket = f"sb-test-{os.getpid()}-{time.monotonic_ns()}"
        exports = " ".join(f"{key}={value}" for key, value in (env or {}).items())
        shell = f"env TERM=tmux-256color LANG=C.UTF-8 {exports} {command}; echo EXIT=$?; sleep 60"
        self.run("new-session", "-d", "-s", "s", "-x", str(width), "-y", str(height), shell)

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=30).stdout

    def screen(self, colors: bool = False) -> str:
        return self.run("capture-pane", "-t", "s", "-p", *(["-e"] if colors else []))

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "s", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "s", "-l", text)

    def wait_for(self, predicate, what: str, attempts: int = 600) -> str:
        """Polls the screen (every 50 ms, up to 30 s) until predicate(screen) holds."""
        screen = ""
        for _ in range(attempts):
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; screen was:\n{screen}")

    def wait_text(self, text: str) -> str:
        return self.wait_for(lambda screen: text in screen, repr(text))

    def resize(self, width: int, height: int) -> None:
        self.run("resize-window", "-t", "s", "-x", str(width), "-y", str(height))

    def alternate_screen_on(self) -> bool:
        return self.run("display", "-p", "-t", "s", "#{alternate_on}").strip() == "1"

    def close(self) -> None:
        self.run("kill-server")
