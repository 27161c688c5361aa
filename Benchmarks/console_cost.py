#!/usr/bin/env python3
"""What the console costs and how fast it answers keys, with N idle clients on one node.

For each binary, each client count and each mode (the local console, `switchboard serve` in
tmux; or `switchboard attach` in tmux to a headless server): the server on core 0, the idle
clients (`bench idle`, from the last binary given) and an attached console on core 1, tmux at
160x50. Measured:

- CPU of the server and of the console process over `--seconds` idle (30: two of the server's
  15 s heartbeats in every window, so windows compare), then over `--seconds` while paging
  (PgDn / PgUp every 250 ms); local mode has one process for both. Attached, the
  headless server is also measured over `--seconds` before the console starts: the console's
  cost is the difference.
- Key -> screen time for PgDn x5, G, g, S (reverse sort), a filter (/ c1 Enter), Enter on a
  client and Esc, three rounds: from send-keys until `capture-pane` shows the key's result
  (the first client row changes; the detail box opens or closes). tmux's own time is included.
- With `--consoles N` (attached only), N - 1 more consoles are attached in their own tmux and
  left on the default view while the first is measured: what each further console costs.
- With `--sort COLUMN` the measured console is put on that order first (`:sort COLUMN`): `idle`,
  `rate`, `msgs_in`, `msgs_out` and `mailbox` are orders by figures that move by themselves.

    Benchmarks/console_cost.py --binary before=/tmp/old/switchboard --binary after=.build-release/release/switchboard
    Benchmarks/console_cost.py --binary after=BIN --clients 1000,10000,19000 --modes local,attached --seconds 30
    Benchmarks/console_cost.py --binary after=BIN --clients 19000 --modes attached --consoles 3
    Benchmarks/console_cost.py --binary after=BIN --clients 19000 --modes attached --sort idle

Prints a Markdown table (a row per binary and configuration), one with each key's median and
slowest time, and one line per measurement on stderr.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

TOKEN = "console-cost-token-0123456789abcdef"
HZ = os.sysconf("SC_CLK_TCK")
ID = re.compile(r"^c[0-9a-z]+(@\S+)?$")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def connections(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.load(response).get("connections", 0)
    except OSError:
        return -1


class Tmux:
    def __init__(self, name):
        self.base = ["tmux", "-L", name, "-f", "/dev/null"]

    def start(self, command):
        subprocess.run(self.base + ["new-session", "-d", "-s", "s", "-x", "160", "-y", "50", command], check=True)

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", "s", *keys], check=True)

    def screen(self):
        return subprocess.run(self.base + ["capture-pane", "-t", "s", "-p"], capture_output=True, text=True).stdout.splitlines()

    def pane_pid(self):
        return int(subprocess.run(self.base + ["display", "-p", "-t", "s", "#{pane_pid}"], capture_output=True, text=True).stdout)

    def stop(self):
        subprocess.run(self.base + ["kill-server"], stderr=subprocess.DEVNULL)


def first_row(lines):
    """The id in the client table's first row (None when the table is empty or not drawn)."""
    for index, line in enumerate(lines):
        if line.lstrip().startswith("ID") and "REMOTE" in line:
            if index + 1 < len(lines):
                token = lines[index + 1].split()[:1]
                if token and ID.match(token[0]):
                    return token[0]
            return None
    return None


def detail_open(lines):
    return any("Client c" in line for line in lines)


def until(tmux, done, timeout=5.0):
    """Milliseconds until `done(screen)` holds, polling capture-pane; None on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if done(tmux.screen()):
            return (time.monotonic() - start) * 1000
        time.sleep(0.001)
    return None


def press(tmux, keys, done):
    """Sends `keys` and times until `done(before, now)`."""
    before = tmux.screen()
    tmux.keys(*keys)
    return until(tmux, lambda now: done(before, now))


def row_changed(before, now):
    return first_row(now) is not None and first_row(now) != first_row(before)


TABLE_TITLE = re.compile(r"─ Connections ─ rows [0-9–-]+ of ([0-9,]+)")


def filtered(before, now):
    """The table counts the filtered clients: its title names the filter and a new total (the
    first row alone may not change: under some orders the first client also matches)."""
    def title(lines):
        return next((line for line in lines if TABLE_TITLE.search(line)), "")
    return 'filter "' in title(now) and TABLE_TITLE.search(title(now)).group(1) != (TABLE_TITLE.search(title(before)) or [None, None])[1]


def key_round(tmux):
    """One round of the scripted keys: [(key, ms)]."""
    results = []
    for _ in range(5):
        results.append(("PgDn", press(tmux, ["NPage"], row_changed)))
        time.sleep(0.3)
    for label, keys in [("G", ["G"]), ("g", ["g"]), ("S", ["S"])]:
        results.append((label, press(tmux, keys, row_changed)))
        time.sleep(0.3)
    tmux.keys("/")
    time.sleep(0.2)
    tmux.keys("c", "1")
    time.sleep(0.2)
    results.append(("filter", press(tmux, ["Enter"], filtered)))
    time.sleep(0.3)
    results.append(("Enter", press(tmux, ["Enter"], lambda before, now: detail_open(now))))
    time.sleep(0.3)
    results.append(("Esc", press(tmux, ["Escape"], lambda before, now: not detail_open(now))))
    time.sleep(0.3)
    # Back to the starting view: clear the filter, ascending ids, top.
    tmux.keys("Escape")
    time.sleep(0.3)
    tmux.keys("S")
    time.sleep(0.3)
    tmux.keys("g")
    time.sleep(0.5)
    return results


def page(tmux, seconds):
    """PgDn and PgUp in turn every 250 ms for `seconds`."""
    end, down = time.monotonic() + seconds, True
    while time.monotonic() < end:
        tmux.keys("NPage" if down else "PPage")
        down = not down
        time.sleep(0.25)


def key_rounds(tmux, rounds):
    """`rounds` rounds of the scripted keys from the top of the table."""
    tmux.keys("g")
    time.sleep(1)
    return [result for _ in range(rounds) for result in key_round(tmux)]


def run_one(binary, load_binary, clients, mode, seconds, port, consoles=1, sort=None):
    tmux = Tmux(f"console-cost-{os.getpid()}-{port}")
    others = [Tmux(f"console-cost-{os.getpid()}-{port}-{n}") for n in range(1, consoles if mode == "attached" else 1)]
    processes = []
    try:
        if mode == "attached":
            server = subprocess.Popen(
                ["taskset", "-c", "0", binary, "serve", "--headless", "--port", str(port), "--admin-token", TOKEN,
                 "--log-level", "warning", "--stats-interval", "0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes.append(server)
            server_pid = server.pid
        else:
            tmux.start(f"exec env TERM=tmux-256color LANG=C.UTF-8 taskset -c 0 {binary} serve --port {port} --admin-token {TOKEN}")
            server_pid = None
        deadline = time.monotonic() + 60
        while connections(port) < 0:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        if server_pid is None:
            server_pid = tmux.pane_pid()
        load = subprocess.Popen(
            ["taskset", "-c", "1", load_binary, "bench", "idle", "--url", f"ws://127.0.0.1:{port}/ws", "--connections", str(clients),
             "--hold", "900"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(load)
        deadline = time.monotonic() + 180
        while connections(port) < clients:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {connections(port)} of {clients} clients connected")
            time.sleep(0.5)
        alone = None
        if mode == "attached":
            # The same server and clients without a console: what the console's cost is measured against.
            time.sleep(3)
            before, start = cpu_seconds(server_pid), time.monotonic()
            time.sleep(seconds)
            alone = 100 * (cpu_seconds(server_pid) - before) / (time.monotonic() - start)
            attach = f"exec env TERM=tmux-256color LANG=C.UTF-8 taskset -c 1 {binary} attach http://127.0.0.1:{port} --token {TOKEN}"
            tmux.start(attach)
            console_pid = tmux.pane_pid()
            for other in others:
                other.start(attach)
                if until(other, lambda lines: first_row(lines) is not None, timeout=30) is None:
                    raise RuntimeError("a further console showed no client rows")
        else:
            console_pid = server_pid
        if until(tmux, lambda lines: first_row(lines) is not None, timeout=30) is None:
            raise RuntimeError("the console showed no client rows")
        if sort:
            tmux.keys(":")
            time.sleep(0.2)
            tmux.keys(f"sort {sort}", "Enter")
            if until(tmux, lambda lines: any(f"sorted by {sort}" in line or f"sort: {sort}" in line for line in lines), timeout=5) is None:
                print(f"note: no sign of the sort by {sort} on screen", file=sys.stderr)
        time.sleep(3)

        def cpu(during):
            pids = {server_pid, console_pid}
            before = {pid: cpu_seconds(pid) for pid in pids}
            start = time.monotonic()
            during()
            elapsed = time.monotonic() - start
            return {pid: 100 * (cpu_seconds(pid) - before[pid]) / elapsed for pid in pids}

        idle = cpu(lambda: time.sleep(seconds))

        busy = cpu(lambda: page(tmux, seconds))
        keys = key_rounds(tmux, 3)
        return {
            "server_alone": alone, "server_idle": idle[server_pid], "console_idle": idle[console_pid] if mode == "attached" else None,
            "server_paging": busy[server_pid], "console_paging": busy[console_pid] if mode == "attached" else None,
            "keys": keys,
        }
    finally:
        for other in others:
            other.stop()
        tmux.stop()
        for process in processes:
            process.kill()
            process.wait()
        time.sleep(1)


def summary(keys):
    times = [ms for _, ms in keys if ms is not None]
    missed = sum(1 for _, ms in keys if ms is None)
    by_key = {}
    for key, ms in keys:
        by_key.setdefault(key, []).append(ms)
    worst = max(by_key, key=lambda key: max((ms if ms is not None else 1e9) for ms in by_key[key]))
    return times, missed, worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True, help="NAME=PATH (repeat to compare in one invocation)")
    parser.add_argument("--clients", default="1000,10000,19000")
    parser.add_argument("--modes", default="local,attached")
    # The server pings every idle client every 15 s (its heartbeat; at 19 000 clients a burst of
    # ~0.4 CPU-seconds): a window of 30 s holds two of them, whenever it starts.
    parser.add_argument("--seconds", type=float, default=30, help="each CPU window; keep it a multiple of the 15 s heartbeat")
    parser.add_argument("--consoles", type=int, default=1, help="consoles attached at once (attached mode; the first is measured)")
    parser.add_argument("--sort", help="the measured console's order (a column of :sort, e.g. idle or rate)")
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    binaries = [tuple(entry.split("=", 1)) for entry in arguments.binary]
    load_binary = os.path.abspath(binaries[-1][1])
    port = 18500
    rows = []
    for clients in [int(n) for n in arguments.clients.split(",")]:
        for mode in arguments.modes.split(","):
            for name, path in binaries:
                port += 1
                result = run_one(os.path.abspath(path), load_binary, clients, mode, arguments.seconds, port, arguments.consoles, arguments.sort)
                label = f"{mode} ×{arguments.consoles}" if mode == "attached" and arguments.consoles > 1 else mode
                label += f", sort {arguments.sort}" if arguments.sort else ""
                times, missed, worst = summary(result["keys"])
                median = statistics.median(times) if times else float("nan")
                maximum = max(times) if times else float("nan")
                per_key = {}
                for key, ms in result["keys"]:
                    per_key.setdefault(key, []).append(ms)
                print(json.dumps({"binary": name, "clients": clients, "mode": label, **{k: v for k, v in result.items() if k != "keys"},
                                  "keys": {k: [None if v is None else round(v, 1) for v in vs] for k, vs in per_key.items()}}),
                      file=sys.stderr, flush=True)
                rows.append((name, clients, label, result, median, maximum, missed, worst))

    def percent(value):
        return "-" if value is None else f"{value:.1f} %"

    print("| binary | clients | console | key → screen median | max (key) | no answer in 5 s | server CPU without console | "
          "server CPU idle / paging | console process idle / paging |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, clients, mode, result, median, maximum, missed, worst in rows:
        print(f"| {name} | {clients} | {mode} | {median:.0f} ms | {maximum:.0f} ms ({worst}) | {missed} | {percent(result['server_alone'])} | "
              f"{percent(result['server_idle'])} / {percent(result['server_paging'])} | "
              f"{percent(result['console_idle'])} / {percent(result['console_paging'])} |")
    print()
    print("| binary | clients | console | key | presses | median | max |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: |")
    for name, clients, mode, result, *_ in rows:
        per_key = {}
        for key, ms in result["keys"]:
            per_key.setdefault(key, []).append(ms)
        for key, times in per_key.items():
            answered = [ms for ms in times if ms is not None]
            median = f"{statistics.median(answered):.0f} ms" if answered else "-"
            slowest = "no answer" if None in times else f"{max(times):.0f} ms"
            print(f"| {name} | {clients} | {mode} | {key} | {len(times)} | {median} | {slowest} |")


if __name__ == "__main__":
    main()
