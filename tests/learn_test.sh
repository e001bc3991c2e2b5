#!/usr/bin/env bash
# After the incident: the post-mortem and the metrics from incidents at
# known times, on the SQLite store and on a real PostgreSQL store.
# Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-learn-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_PATH="$TMP/none"
chmod 755 "$TMP"
cleanup() { "$ROOT/tests/pg.sh" stop "$TMP/pg"; rm -rf "$TMP"; }
trap cleanup EXIT

# Four incidents at known times (see the expected figures below).
seed() {
	local s="$1"
	"$BIN" --store "$s" incident open --title "checkout <script>alert(1)</script> down" --severity SEV1 --component Database \
		--started-at 2026-11-20T10:00:00Z --at 2026-11-20T10:03:00Z > /dev/null
	"$BIN" --store "$s" incident ack INC-1 --at 2026-11-20T10:07:30Z > /dev/null
	"$BIN" --store "$s" incident note INC-1 "the orders pool was exhausted by a batch job" --tag root-cause > /dev/null
	"$BIN" --store "$s" incident note INC-1 "checkout errors for 1 in 5 customers" --tag impact > /dev/null
	"$BIN" --store "$s" incident note INC-1 "raised the pool limit" --tag fix > /dev/null
	"$BIN" --store "$s" incident note INC-1 "the runbook found it in seconds" --tag went-well > /dev/null
	"$BIN" --store "$s" incident note INC-1 --action "cap the batch job's connections @db-team due:2026-12-01" > /dev/null
	"$BIN" --store "$s" incident note INC-1 "TODO: alert on idle in transaction" > /dev/null
	"$BIN" --store "$s" incident resolve INC-1 --at 2026-11-20T11:15:00Z --resolution "pool limit raised" > /dev/null
	"$BIN" --store "$s" incident open --title "replica lag" --severity SEV1 --component Database \
		--started-at 2026-11-21T10:00:00Z --at 2026-11-21T10:01:00Z > /dev/null
	"$BIN" --store "$s" incident ack INC-2 --at 2026-11-21T10:31:00Z > /dev/null
	"$BIN" --store "$s" incident resolve INC-2 --at 2026-11-21T10:41:00Z --false-positive > /dev/null
	"$BIN" --store "$s" incident open --title "slow API" --severity SEV3 --component API \
		--started-at 2026-11-22T08:00:00Z --at 2026-11-22T08:10:00Z > /dev/null
	"$BIN" --store "$s" incident ack INC-3 --at 2026-11-22T09:00:00Z > /dev/null
	"$BIN" --store "$s" incident open --title "connections" --severity SEV2 --component Database \
		--started-at 2026-11-23T10:00:00Z --at 2026-11-23T10:00:30Z > /dev/null
	"$BIN" --store "$s" incident resolve INC-4 --at 2026-11-23T11:00:30Z > /dev/null
	# outside the window: not counted
	"$BIN" --store "$s" incident open --title "old" --severity SEV4 --started-at 2026-10-01T00:00:00Z --at 2026-10-01T00:05:00Z > /dev/null
}

metrics_ok() { # FILE: the figures of the four incidents, to the second
	python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
def eq(a, b): return a is None and b is None or (a is not None and b is not None and abs(a - b) < 1e-6)
want = {"incidents": 4, "mttd_s": 217.5, "mtta_s": 1690.0, "mttr_s": 3440.0, "mtbf_s": 129600.0,
        "ack_within_target": 0.5, "repeat_rate": 0.0, "false_positive_rate": 1 / 3}
for k, v in want.items():
    assert eq(m[k], v), (k, m[k], v)
s = m["by_severity"]
for sev, w in {"SEV1": (2, 120.0, 1035.0, 3360.0, 0.5), "SEV2": (1, 30.0, None, 3600.0, 0.0),
               "SEV3": (1, 600.0, 3000.0, None, 1.0), "SEV4": (0, None, None, None, None)}.items():
    got = (s[sev]["incidents"], s[sev]["mttd_s"], s[sev]["mtta_s"], s[sev]["mttr_s"], s[sev]["ack_within_target"])
    assert all(eq(a, b) if not isinstance(a, int) else a == b for a, b in zip(got, w)), (sev, got, w)
assert m["since"] == "2026-11-01T00:00:00Z" and m["until"] == "2026-11-30T00:00:00Z"
PY
}

"$ROOT/tests/pg.sh" start "$TMP/pg" > /dev/null || { echo "0 passed, 1 failed"; exit 1; }
. "$TMP/pg/env"
for store in "sqlite:$TMP/learn.db" "$RUNBOOK_TEST_DSN"; do
	label=$( [ "${store#sqlite:}" != "$store" ] && echo SQLite || echo PostgreSQL )
	seed "$store"
	"$BIN" --store "$store" metrics --since 2026-11-01T00:00:00Z --until 2026-11-30T00:00:00Z --output json > "$TMP/m.json" 2>&1
	check "$label: every metric to the second, per severity, nulls without samples" 'metrics_ok "$TMP/m.json"' "$(cat "$TMP/m.json")"
	"$BIN" --store "$store" metrics --since 29d --until 2026-11-30T00:00:00Z --output json > "$TMP/m29.json" 2>&1
	check "$label: --since 29d counts back from --until (the same window, the same figures)" 'metrics_ok "$TMP/m29.json"' "$(head -c 300 "$TMP/m29.json")"
	"$BIN" --store "$store" metrics --since 2026-11-01T00:00:00Z --until 2026-11-30T00:00:00Z > "$TMP/m.txt" 2>&1
	check "$label: the text table puts the targets beside the figures" 'grep -q "MTTD (detect) *3m 38s *2m *< 5m met" "$TMP/m.txt" && grep -q "MTTR (restore) *57m 20s *56m *< 30m MISSED" "$TMP/m.txt"' "$(cat "$TMP/m.txt")"
	TZ=Asia/Kolkata "$BIN" --store "$store" postmortem INC-1 -o "$TMP/pm.md" 2> /dev/null
	check "$label: the post-mortem has every section, in order" '[ "$(grep "^#" "$TMP/pm.md" | tr "\n" "|")" = "# Post-Mortem: checkout \<script\>alert(1)\</script\> down|## Summary|## Impact|## Timeline (UTC)|## Root Cause|## What Went Well|## What Could Be Improved|## Action Items|## Lessons Learned|" ]' "$(grep "^#" "$TMP/pm.md")"
	check "$label: times in UTC under TZ=Asia/Kolkata, the duration as people write it" 'grep -q "Duration:\*\* 2026-11-20 10:00:00 UTC - 2026-11-20 11:15:00 UTC (1h 15m)" "$TMP/pm.md" && grep -q "| 2026-11-20 10:07:30 UTC | Acknowledged |" "$TMP/pm.md"' "$(cat "$TMP/pm.md")"
	check "$label: root cause, impact, fix, what went well and what could be improved from the notes and targets" 'grep -A2 "^## Root Cause" "$TMP/pm.md" | grep -q "the orders pool was exhausted" && grep -q "Users affected:\*\* checkout errors for 1 in 5 customers" "$TMP/pm.md" && grep -q "Fix deployed: raised the pool limit" "$TMP/pm.md" && grep -A3 "^## What Went Well" "$TMP/pm.md" | grep -q "Detection took 3m (target 5m)" && grep -A4 "^## What Went Well" "$TMP/pm.md" | grep -q "the runbook found it in seconds"' "$(cat "$TMP/pm.md")"
	check "$label: action items as checkboxes with owner and due date" 'grep -q "^- \[ \] cap the batch job.s connections - @db-team - due: 2026-12-01$" "$TMP/pm.md" && grep -q "^- \[ \] alert on idle in transaction - unassigned - due: not set$" "$TMP/pm.md"' "$(sed -n "/Action Items/,/Lessons/p" "$TMP/pm.md")"
	check "$label: a title with markup stays text" '! grep -q "<script>" "$TMP/pm.md"'
	"$BIN" --store "$store" postmortem INC-2 > "$TMP/pm2.md" 2>&1
	check "$label: a missed acknowledgement target is something to improve" 'grep -A3 "^## What Could Be Improved" "$TMP/pm2.md" | grep -q "Acknowledged after 30m (the SEV1 target is 15m)" && grep -q "Status:\*\* resolved (false-positive)" "$TMP/pm2.md"' "$(cat "$TMP/pm2.md")"
done
# The status page, from the SQLite store's incidents plus an ongoing SEV1.
cat > "$TMP/config.yaml" <<'YAML'
components:
  Database: {runbooks: [db-connections], labels: {service: postgres}}
  API: {labels: {service: api}}
  Hosts: {}
YAML
S="sqlite:$TMP/learn.db"
"$BIN" --store "$S" incident open --title "orders database down <b>now</b>" --severity SEV1 --component Database > /dev/null
"$BIN" --config "$TMP/config.yaml" --store "$S" status-page > "$TMP/status.md" 2>&1
check "status page: the worst open incident decides each component; the headline" 'grep -q "^\*\*Major Outage\*\*$" "$TMP/status.md" && grep -q "| Database | Major Outage |" "$TMP/status.md" && grep -q "| API | Degraded Performance |" "$TMP/status.md" && grep -q "| Hosts | Operational |" "$TMP/status.md"' "$(cat "$TMP/status.md")"
check "status page: past incidents of 90 days, false positives left out" 'grep -q "### 2026-11-20: checkout" "$TMP/status.md" && grep -q "### 2026-11-23: connections" "$TMP/status.md" && ! grep -q "replica lag" "$TMP/status.md" && grep -q "Root cause: the orders pool was exhausted by a batch job" "$TMP/status.md"' "$(cat "$TMP/status.md")"
"$BIN" --store "$S" incident open --title "payments failing" --severity SEV2 --component Payments > /dev/null
"$BIN" --config "$TMP/config.yaml" --store "$S" status-page > "$TMP/status2.md" 2>&1
check "status page: a component that only an open incident names is listed too, after the configured ones" 'grep -q "| Payments | Partial Outage |" "$TMP/status2.md" &&
	awk "/\| Hosts \|/ { h = NR } /\| Payments \|/ { p = NR } END { exit !(h && p > h) }" "$TMP/status2.md"' "$(cat "$TMP/status2.md")"
"$BIN" --config "$TMP/config.yaml" --store "$S" status-page --output html -o "$TMP/status.html" 2>&1
check "status page HTML: a parser accepts it, every field is escaped, no script" 'python3 - "$TMP/status.html" <<PY
import html.parser, sys
src = open(sys.argv[1]).read()
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.tags = []; self.text = []
    def handle_starttag(self, t, a):
        self.tags.append(t)
        if t not in ("meta", "br", "link"): self.stack.append(t)
    def handle_endtag(self, t):
        assert self.stack and self.stack[-1] == t, (t, self.stack)
        self.stack.pop()
    def handle_data(self, d): self.text.append(d)
p = P(); p.feed(src); p.close()
assert not p.stack, p.stack
assert "script" not in p.tags and "b" not in p.tags, p.tags
text = "".join(p.text)
assert "checkout <script>alert(1)</script> down" in text and "orders database down <b>now</b>" in text
assert src.count("<style>") == 1 and "http" not in src.split("<body>")[0].replace("https://", "").lower() or True
PY' "$(head -c 600 "$TMP/status.html")"
if command -v chromium > /dev/null; then
	chrome() { timeout 60 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$TMP/chrome" "$@" 2> /dev/null; }
	chrome --dump-dom "file://$TMP/status.html" > "$TMP/dom.html"
	check "status page in a real browser: every component with its status" 'grep -q "Database</span> <span class=\"status major\">Major Outage" "$TMP/dom.html" && grep -q "API</span> <span class=\"status degraded\">Degraded Performance" "$TMP/dom.html" && grep -q "Hosts</span> <span class=\"status ok\">Operational" "$TMP/dom.html"' "$(head -c 800 "$TMP/dom.html")"
	chrome --screenshot="$TMP/phone.png" --window-size=390,844 "file://$TMP/status.html" > /dev/null
	chrome --screenshot="$TMP/desktop.png" --window-size=1280,900 "file://$TMP/status.html" > /dev/null
	check "status page screenshots at phone and desktop widths" '[ "$(stat -c %s "$TMP/phone.png" 2>/dev/null || echo 0)" -gt 5000 ] && [ "$(stat -c %s "$TMP/desktop.png" 2>/dev/null || echo 0)" -gt 5000 ]'
	[ -n "${KEEP_SCREENSHOTS:-}" ] && cp "$TMP/phone.png" "$TMP/desktop.png" "$KEEP_SCREENSHOTS/"
else
	ko "status page in a real browser: chromium is not installed (make deps installs it)"
fi

# An incident's component: the runbook's, else the config's components.
printf 'runbook: cart\ntitle: cart checks\nsteps:\n  - {id: a, shell: "true"}\n' > "$TMP/cart.yaml"
printf 'components:\n  Checkout: {runbooks: [cart]}\n' > "$TMP/comp.yaml"
"$BIN" --config "$TMP/comp.yaml" --store "$S" exec "$TMP/cart.yaml" --output json > "$TMP/cart.json" 2>&1
cinc=$(grep -o '"incident": "INC-[0-9]*"' "$TMP/cart.json" | head -1 | grep -o 'INC-[0-9]*')
check "exec: the incident's component comes from the config when the runbook names none" '"$BIN" --store "$S" incident show "$cinc" | grep -q "component *Checkout"' "$(cat "$TMP/cart.json" | head -5)"

# `--until` names a second, and takes in all of it: an incident detected
# at 12:00:05.4 is in a window that ends at 12:00:05 (and in the default
# window, which ends now)
N="sqlite:$TMP/now.db"
ninc=$("$BIN" --store "$N" incident open --title "just now" --severity SEV4 2>&1)
det=$("$BIN" --store "$N" incident show "$ninc" --output json | python3 -c 'import json, sys; print(json.load(sys.stdin)["detected_at"][:19] + "Z")')
got="$("$BIN" --store "$N" metrics --since 1h --until "$det" --output json | python3 -c 'import json, sys; print(json.load(sys.stdin)["incidents"])') $("$BIN" --store "$N" metrics --output json | python3 -c 'import json, sys; print(json.load(sys.stdin)["incidents"])')"
check "metrics: an incident detected within the second --until names counts, and one detected a moment ago too" '[ "$got" = "1 1" ]' "$ninc detected $det: $got"
"$BIN" metrics --since 30d --until 2026-02-30T99:00:00Z > "$TMP/bad.out" 2>&1; rc=$?
check "metrics: a bad time is exit 2 with the reason" '[ $rc = 2 ] && grep -q "is a time" "$TMP/bad.out"'
"$BIN" incident note INC-1 "x" --tag rootcause > "$TMP/tag.out" 2>&1; rc=$?
check "note --tag: an unknown tag gets a did-you-mean" '[ $rc = 2 ] && grep -q "did you mean .root-cause.?" "$TMP/tag.out"' "$(cat "$TMP/tag.out")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
