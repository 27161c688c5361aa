#!/usr/bin/env bash
# Autobahn|Testsuite conformance run against a running WebSocket echo endpoint.
# See --help. Installs wstest into .venv-autobahn (Python 2.7) on first use.
set -uo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/autobahn.sh --url ws://127.0.0.1:PORT/echo [options]

Runs the Autobahn|Testsuite fuzzing client (wstest -m fuzzingclient) against a WebSocket
echo endpoint that the caller has already started (text is echoed as text, binary as
binary), then prints a summary of every case and exits 0 only if all went well.

Options:
  --url URL             ws:// (or wss://) URL of the echo endpoint. Required.
  --cases LIST          Comma-separated case patterns, as wstest spells them ("6.*",
                        "12.1.*", "7.5.1"). Each pattern is one wstest run ("chunk"),
                        because wstest writes its report only when a run ends.
                        Default: 1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*  (301 cases; there is
                        no group 8). 12.* and 13.* (permessage-deflate, 216 cases) are
                        slow, 1-2 min per subgroup of 18 against a Python echo server:
                        pass them per subgroup ("12.1.*,12.2.*,...,13.7.*"), as one
                        "12.*" chunk would outlast the default timeout.
  --exclude LIST        Comma-separated case patterns to leave out of every chunk.
  --report-dir DIR      Where reports go (default: autobahn-reports in the repo root).
                        Each chunk gets DIR/NN-<pattern>/ with spec.json, wstest.log,
                        expected.txt and wstest's index.json / index.html / per-case files;
                        DIR/summary.txt and DIR/summary.json hold the summary.
  --chunk-timeout SECS  Wall-clock limit for one chunk (default: 300). A chunk that hits
                        it leaves no report: all its cases count as not run.
  --install-only        Only make sure wstest is installed, then exit.
  -h, --help            This text.

Install: the first run creates .venv-autobahn (a Python 2.7 virtualenv; autobahntestsuite
is Python-2-only) with virtualenv 20.21.1 run from a throwaway Python 3 venv, then installs
the pins in scripts/autobahn-requirements.txt. Later runs skip that unless the pins change.
Python 2.7 is looked for in $AUTOBAHN_PYTHON2, pyenv's versions/2.7*, then python2.7 on
PATH; Python 3 in $AUTOBAHN_PYTHON3, then python3. $AUTOBAHN_VENV overrides the venv path.

Verdict: a case fails when its behavior is FAILED, or its closing behavior (behaviorClose)
is FAILED or UNCLEAN (the two red closing verdicts of wstest's own HTML report).
OK, NON-STRICT, INFORMATIONAL and UNIMPLEMENTED behaviors pass; WRONG CODE and FAILED BY
CLIENT closing behaviors are listed as notes but pass. Every requested case must also have
a result: cases of a chunk that timed out, crashed, or could not connect count as not run.
The last line reads "autobahn: N cases, F failed" (plus ", M not run" when some did not).

Exit status: 0 all cases ran and none failed; 1 failures or cases not run;
2 usage error (including a case pattern that matches no case), install failure, or
the URL does not accept TCP connections.
EOF
}

die() { echo "autobahn: $*" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${AUTOBAHN_VENV:-$root/.venv-autobahn}
req="$root/scripts/autobahn-requirements.txt"
virtualenv_pin="virtualenv==20.21.1"

url=""
cases="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
exclude=""
report_dir="$root/autobahn-reports"
chunk_timeout=300
install_only=0

while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --install-only) install_only=1; shift; continue ;;
    --url=*) url=${1#*=} ;;
    --cases=*) cases=${1#*=} ;;
    --exclude=*) exclude=${1#*=} ;;
    --report-dir=*) report_dir=${1#*=} ;;
    --chunk-timeout=*) chunk_timeout=${1#*=} ;;
    --url|--cases|--exclude|--report-dir|--chunk-timeout)
      (($# >= 2)) || die "$1 needs a value (see --help)"
      case "$1" in
        --url) url=$2 ;;
        --cases) cases=$2 ;;
        --exclude) exclude=$2 ;;
        --report-dir) report_dir=$2 ;;
        --chunk-timeout) chunk_timeout=$2 ;;
      esac
      shift ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

if ((!install_only)); then
  [ -n "$url" ] || die "--url is required (see --help)"
  [[ "$url" =~ ^wss?://[^/]+ ]] || die "--url must be a ws:// or wss:// URL, got: $url"
  [[ "$chunk_timeout" =~ ^[1-9][0-9]*$ ]] || die "--chunk-timeout must be a positive number of seconds"
  [ -n "${cases//[ ,]/}" ] || die "--cases is empty"
fi

# --- Install (idempotent) -------------------------------------------------------------------
find_python27() {
  local c pyenv_root
  pyenv_root=$(pyenv root 2>/dev/null || true)
  for c in "${AUTOBAHN_PYTHON2:-}" \
           ${pyenv_root:+"$pyenv_root"/versions/2.7*/bin/python2.7} \
           "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7 \
           /root/.pyenv/versions/2.7*/bin/python2.7 \
           "$(command -v python2.7 2>/dev/null)" "$(command -v python2 2>/dev/null)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1 || continue
    echo "$c"; return 0
  done
  return 1
}

install_wstest() {
  local stamp="$venv/.autobahn-requirements.sha256" want py2 py3 tmp log
  [ -f "$req" ] || die "missing $req"
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$venv/bin/wstest" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
     "$venv/bin/python" -c '' >/dev/null 2>&1; then
    return 0
  fi
  if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1; then
    echo "autobahn: $venv is not a working Python 2.7 environment; recreating it" >&2
    rm -rf -- "$venv"
  fi
  if [ ! -e "$venv" ]; then
    py2=$(find_python27) || die "no Python 2.7 found (set AUTOBAHN_PYTHON2, or: pyenv install 2.7.18)"
    py3=${AUTOBAHN_PYTHON3:-$(command -v python3 2>/dev/null)} || true
    [ -n "$py3" ] || die "no python3 found to run virtualenv (set AUTOBAHN_PYTHON3)"
    echo "autobahn: creating $venv (Python 2.7 from $py2)" >&2
    tmp=$(mktemp -d) || die "mktemp failed"
    log="$tmp/bootstrap.log"
    if ! { "$py3" -m venv "$tmp/boot" &&
           "$tmp/boot/bin/python" -m pip install -q "$virtualenv_pin" &&
           "$tmp/boot/bin/python" -m virtualenv -q -p "$py2" "$venv"; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      rm -rf -- "$tmp" "$venv"
      die "could not create the Python 2.7 virtualenv (needs python3 with venv/ensurepip)"
    fi
    rm -rf -- "$tmp"
  fi
  echo "autobahn: installing wstest (scripts/autobahn-requirements.txt) into $venv" >&2
  log="$venv/install.log"
  if ! PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install -q --no-input -r "$req" >"$log" 2>&1 ||
     ! "$venv/bin/wstest" --help >/dev/null 2>&1; then
    tail -n 40 "$log" >&2
    die "installing wstest failed (full log: $log)"
  fi
  echo "$want" >"$stamp"
}

install_wstest
((install_only)) && { echo "autobahn: wstest ready in $venv"; exit 0; }

# --- Helper (runs on the venv's Python 2.7, with wstest's own case table) -------------------
helper=$(mktemp) || die "mktemp failed"
trap 'rm -f -- "$helper"' EXIT
cat >"$helper" <<'PYEOF'
from __future__ import print_function
import io, json, os, re, socket, sys

def caseset():
    from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories, CaseSetname, CaseBasename
    from autobahntestsuite.caseset import CaseSet
    return CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)

def split_list(s):
    return [p.strip() for p in s.split(",") if p.strip()]

def preflight(url):
    m = re.match(r"^(wss?)://(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?", url)
    if not m:
        print("autobahn: cannot parse URL %s" % url, file=sys.stderr); return 2
    host = m.group(2).strip("[]")
    port = int(m.group(3) or (443 if m.group(1) == "wss" else 80))
    try:
        socket.create_connection((host, port), timeout=5).close()
    except Exception as e:
        print("autobahn: nothing accepts connections at %s:%d (%s); start the server first" % (host, port, e),
              file=sys.stderr)
        return 2
    return 0

def prepare(chunkdir, url, pattern, excludes):
    # Resolve exactly as wstest does (CaseSet.parseSpecCases), so expected.txt is the case
    # list the run will attempt; an unknown id would crash wstest, so reject it here.
    cs = caseset()
    found = cs.resolveCasePatternList([pattern])
    unknown = [c for c in found if c not in cs.CasesIndices]
    if unknown or not found:
        print("autobahn: case pattern %r matches no wstest case" % pattern, file=sys.stderr)
        return 3
    spec = {"outdir": chunkdir, "servers": [{"agent": "switchboard", "url": url, "options": {"version": 18}}],
            "cases": [pattern], "exclude-cases": split_list(excludes), "exclude-agent-cases": {}}
    expected = cs.parseSpecCases(spec)
    with open(os.path.join(chunkdir, "spec.json"), "w") as f:
        json.dump(spec, f, indent=2, sort_keys=True)
    with open(os.path.join(chunkdir, "expected.txt"), "w") as f:
        f.write("".join(c + "\n" for c in expected))
    print(len(expected))
    return 0

def idkey(c):
    return tuple(int(x) for x in c.split("."))

def oneline(s, limit=220):
    s = re.sub(r"<[^>]*>", " ", s or "")
    s = " ".join(s.split())
    return s if len(s) <= limit else s[:limit - 4] + " ..."

PASS_BEHAVIOR = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "NO_CLOSE")
FAIL_CLOSE = ("FAILED", "UNCLEAN")
ORDER = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]

def summary(report_dir, chunkdirs):
    results, expected, notrun, lines = {}, [], [], []
    out = lambda s="": lines.append(s)
    bad = split_list(os.environ.get("AUTOBAHN_BAD_PATTERNS", ""))
    for d in chunkdirs:
        st = {}
        try:
            st = json.load(open(os.path.join(d, "status.json")))
        except Exception:
            pass
        exp = [l.strip() for l in open(os.path.join(d, "expected.txt")) if l.strip()]
        expected.extend(c for c in exp if c not in expected)
        got = {}
        try:
            got = json.load(open(os.path.join(d, "index.json"))).get("switchboard", {})
        except Exception:
            pass
        for cid, r in got.items():
            r = dict(r); r["chunkdir"] = d
            results[cid] = r
        missing = [c for c in exp if c not in got and c not in results]
        if missing:
            rc = st.get("rc")
            if rc == 124 or rc == 137:
                why = "timed out after %s s" % st.get("timeout")
            elif rc not in (0, None):
                why = "wstest exited with status %s" % rc
            else:
                why = "no result in its report"
            log = os.path.join(d, "wstest.log")
            try:
                conn = [l.strip() for l in open(log) if l.startswith("Connection to ")]
                if conn:
                    why += "; " + conn[-1]
            except Exception:
                pass
            notrun.append((st.get("pattern", os.path.basename(d)), missing, why, log))
    ran = [c for c in expected if c in results]
    beh, close = {}, {}
    for c in ran:
        b, bc = results[c].get("behavior", "?"), results[c].get("behaviorClose", "?")
        beh[b] = beh.get(b, 0) + 1
        close[bc] = close.get(bc, 0) + 1
    failed = [c for c in ran if results[c].get("behavior") not in PASS_BEHAVIOR
              or results[c].get("behaviorClose") in FAIL_CLOSE]
    notes = [c for c in ran if c not in failed and results[c].get("behaviorClose") not in ("OK", "INFORMATIONAL")]
    keys = ORDER + sorted(k for k in beh if k not in ORDER)
    out("autobahn: behavior      " + ", ".join("%s %d" % (k, beh.get(k, 0)) for k in keys))
    out("autobahn: behaviorClose " + (", ".join("%s %d" % (k, v) for k, v in sorted(close.items())) or "-"))

    def detail(c):
        r = results[c]
        info = {}
        try:
            info = json.load(io.open(os.path.join(r["chunkdir"], r["reportfile"]), encoding="utf-8"))
        except Exception:
            pass
        out("  %s  behavior %s, close %s (remote close code %s)" % (
            c, r.get("behavior"), r.get("behaviorClose"), r.get("remoteCloseCode")))
        if info.get("description"):
            out("      case:   " + oneline(info["description"]))
        if info.get("result"):
            out("      result: " + oneline(info["result"]))
        if info.get("resultClose"):
            out("      close:  " + oneline(info["resultClose"]))
        out("      report: " + os.path.join(r["chunkdir"], r["reportfile"].replace(".json", ".html")))

    if failed:
        out("autobahn: FAILED cases:")
        for c in sorted(failed, key=idkey):
            detail(c)
    if notes:
        out("autobahn: notes (closing behavior not OK, not counted as failures):")
        for c in sorted(notes, key=idkey):
            r = results[c]
            out("  %s  close %s (remote close code %s)" % (c, r.get("behaviorClose"), r.get("remoteCloseCode")))
    n_notrun = 0
    for pattern, missing, why, log in notrun:
        n_notrun += len(missing)
        shown = " ".join(missing[:12]) + (" ..." if len(missing) > 12 else "")
        out("autobahn: NOT RUN: %d case(s) of %s: %s (log: %s)" % (len(missing), pattern, why, log))
        out("  " + shown)
    for pattern in bad:
        out("autobahn: NOT RUN: case pattern %r matches no wstest case" % pattern)
    last = "autobahn: %d cases, %d failed" % (len(expected), len(failed))
    if n_notrun:
        last += ", %d not run" % n_notrun
    if bad:
        last += ", %d unknown case pattern(s)" % len(bad)
    out(last)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(report_dir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(report_dir, "summary.json"), "w") as f:
        json.dump({"cases": len(expected), "failed": sorted(failed, key=idkey),
                   "not_run": sorted((c for _, m, _, _ in notrun for c in m), key=idkey),
                   "behavior": beh, "behaviorClose": close,
                   "results": dict((c, {"behavior": results[c].get("behavior"),
                                        "behaviorClose": results[c].get("behaviorClose"),
                                        "remoteCloseCode": results[c].get("remoteCloseCode"),
                                        "duration": results[c].get("duration"),
                                        "report": os.path.join(results[c]["chunkdir"], results[c]["reportfile"])})
                                   for c in ran)}, f, indent=1, sort_keys=True)
    return 0 if not failed and not n_notrun and not bad else 1

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "summary":
        sys.exit(summary(args[0], args[1:]))
    sys.exit({"preflight": preflight, "prepare": prepare}[cmd](*args))
PYEOF
py() { PYTHONWARNINGS=ignore "$venv/bin/python" "$helper" "$@"; }

# --- Run ------------------------------------------------------------------------------------
mkdir -p -- "$report_dir" || die "cannot create $report_dir"
report_dir=$(cd "$report_dir" && pwd)
py preflight "$url" || exit 2

# Chunk folders of an earlier run (recognised by the files this script writes) would only confuse.
for old in "$report_dir"/[0-9][0-9]-*/; do
  [ -f "$old/spec.json" ] && [ -f "$old/expected.txt" ] && rm -rf -- "$old"
done
IFS=',' read -r -a patterns <<<"$cases"
chunkdirs=()
n=0
bad_patterns=""
started=$(date +%s)
for pattern in "${patterns[@]}"; do
  pattern=$(echo "$pattern" | tr -d '[:space:]')
  [ -n "$pattern" ] || continue
  n=$((n + 1))
  dir="$report_dir/$(printf '%02d' "$n")-$(echo "$pattern" | sed 's/\*/all/g; s/[^A-Za-z0-9._-]/_/g')"
  rm -rf -- "$dir" && mkdir -p -- "$dir" || die "cannot create $dir"
  count=$(py prepare "$dir" "$url" "$pattern" "$exclude") || { bad_patterns+="$pattern,"; continue; }
  if [ "$count" = 0 ]; then
    echo "autobahn: $pattern: every case excluded"
    continue
  fi
  chunkdirs+=("$dir")
  t0=$(date +%s%N)
  (cd "$dir" && PYTHONWARNINGS=ignore timeout --kill-after=10 "$chunk_timeout" \
     "$venv/bin/wstest" -m fuzzingclient -s "$dir/spec.json") >"$dir/wstest.log" 2>&1 </dev/null
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  printf '{"pattern": "%s", "rc": %d, "timeout": %d, "ms": %d}\n' "$pattern" "$rc" "$chunk_timeout" "$ms" >"$dir/status.json"
  msg=""
  ((rc == 124 || rc == 137)) && msg=" TIMED OUT"
  ((rc != 0 && rc != 124 && rc != 137)) && msg=" wstest exit $rc"
  printf 'autobahn: %-10s %4d cases %8.1f s%s\n' "$pattern" "$count" "$(echo "$ms" | awk '{print $1/1000}')" "$msg"
done
echo "autobahn: all chunks took $(($(date +%s) - started)) s; reports in $report_dir"

AUTOBAHN_BAD_PATTERNS=$bad_patterns py summary "$report_dir" ${chunkdirs[@]+"${chunkdirs[@]}"}
status=$?
[ -n "$bad_patterns" ] && status=2
exit "$status"
