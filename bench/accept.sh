#!/bin/bash
# bench/accept.sh — messages/s accepted into a durable queue: postern vs Postfix.
#
# Method of the first Postfix baseline on this machine: Postfix's smtp-source sends
# 1 KiB messages over 20 sessions, 10000 messages per run, one connection per
# message and (-d) reusing connections:
#   smtp-source -s 20 -l 1024 -m 10000 [-d] -f a@src.test -t b@dst.test 127.0.0.1:PORT
# timed with date +%s.%N around it; 3 runs each; the median is reported.
#
#  * postern: a private instance (build/postern setup) in a temp dir on a free
#    loopback port, accepted domain dst.test with mailbox b@dst.test whose LMTP
#    mailbox server (127.0.0.1:1) is down, so every message is committed to the
#    queue and parked in Retry (accept-and-park, like Postfix's HOLD below); the
#    per-source connection limit is off (Postfix exempts $mynetworks from its
#    limits too). Before each run it is stopped, the instance restored from a
#    copy taken after set-up (an empty queue in fresh directories) and started.
#    Its queue is counted by postern itself: Get-Queue's MessageCount, summed.
#  * Postfix: a private instance: a copy of /etc/postfix in a temp dir with its
#    own queue_directory/data_directory, smtpd on a free 127.0.0.1 port only, no
#    chroot, mynetworks=127.0.0.0/8 and
#    "smtpd_data_restrictions = check_client_access static:HOLD", so each message
#    is fsynced into the queue and parked on hold. The system's /etc/postfix and
#    its instance are never touched. Its queue is purged (postsuper -d ALL)
#    before each run; the instance stays up.
# After every run the queue must hold exactly the messages sent, else the run is
# reported as FAILED. Also reported: CPU per message of the MTA (its processes,
# reaped children included, from /proc), of smtp-source (/usr/bin/time) and of
# the whole machine (/proc/stat), and "other load": the CPU that neither used
# during the run, in cores (other work on the machine disturbing the run).
#
# Usage: bench/accept.sh [-m MSGS] [-s SESSIONS] [-l BYTES] [-r RUNS]
#                        [-o postern|postfix] [-M conn|reuse] [-p] [-R FILE]
#   -p       pin: the MTA on CPU 1, smtp-source on CPU 0
#   -R FILE  also append the raw results (TSV) to FILE
# Environment: POSTERN_BIN (default build/postern), SMTP_SOURCE, KEEP_WORK=1.
# The set-up of both instances is bench/lib.sh's.
# Needs root (postern drops to its service user; Postfix needs root to start).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=accept.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
POSTERN=${POSTERN_BIN:-$ROOT/build/postern}
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
MSGS=10000 SESSIONS=20 SIZE=1024 RUNS=3 MTAS="postern postfix" MODES="conn reuse"
PIN=0 RAW=""
RUN_TIMEOUT=900

while getopts "m:s:l:r:o:M:pR:h" opt; do
    case $opt in
    m) MSGS=$OPTARG ;;
    s) SESSIONS=$OPTARG ;;
    l) SIZE=$OPTARG ;;
    r) RUNS=$OPTARG ;;
    o) MTAS=$OPTARG ;;
    M) MODES=$OPTARG ;;
    p) PIN=1 ;;
    R) RAW=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SMTP_SOURCE" ] || die "no smtp-source at $SMTP_SOURCE"
case " $MTAS " in *" postern "*) [ -x "$POSTERN" ] || die "no postern binary at $POSTERN" ;; esac
case " $MTAS " in *" postfix "*) command -v postfix >/dev/null || die "Postfix is not installed" ;; esac
for m in $MODES; do case $m in conn|reuse) ;; *) die "mode $m: conn or reuse" ;; esac; done

SRC_PIN=()
if [ "$PIN" = 1 ]; then MTA_PIN=(taskset -c 1); SRC_PIN=(taskset -c 0); fi

bench_workdir postern-bench
RESULTS=$WORK/results.tsv
: >"$RESULTS"
PN=$WORK/postern PN_PORT="" PF_PORT=""
SRC_PID=""

# ---- postern (bench/lib.sh) ------------------------------------------------
postern_setup() {
    PN_PORT=$(free_port)
    pn_setup "$POSTERN" "$PN" "$PN_PORT" mail.postern.test
    pn_snapshot "$PN"
}
postern_start() { pn_start "$POSTERN" "$PN" "$WORK/postern.log"; }
postern_count() { pn_count "$POSTERN" "$PN"; }
postern_prepare() { # empty queue (the instance as set up), fresh daemon
    pn_stop
    pn_restore "$PN"
    postern_start
}

# ---- Postfix (bench/lib.sh) ------------------------------------------------
postfix_setup() {
    PF_PORT=$(free_port)
    pf_setup "$WORK/postfix" "myhostname = bench.postfix.test"
    pf_add_smtpd "$PF_PORT" "${PF_HOLD[@]}"
}
postfix_start() { pf_start "$PF_PORT"; }
postfix_master_pid() { pf_master_pid; }
postfix_count() { pf_count_hold; }
postfix_prepare() { pf_purge; }

cleanup() {
    set +e
    if [ -n "$SRC_PID" ]; then
        kill -TERM "$SRC_PID" 2>/dev/null
        wait "$SRC_PID" 2>/dev/null
    fi
    bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- one run ---------------------------------------------------------------
run_one() { # mta mode run
    local mta=$1 mode=$2 run=$3 port pid flag="" t0 t1 c0 c1 m0 m1 src rc=0 n status
    "${mta}_prepare"
    if [ "$mta" = postern ]; then port=$PN_PORT pid=$PN_PID; else port=$PF_PORT pid=$(postfix_master_pid); fi
    [ "$mode" = reuse ] && flag=-d
    sync
    sleep 2
    m0=$($CPU tree "$pid") c0=$($CPU machine)
    t0=$(date +%s.%N)
    # in the background, so that a signal to this script is handled at once (bash
    # defers traps while a foreground child runs); timeout signals its whole group
    "${SRC_PIN[@]}" timeout "$RUN_TIMEOUT" /usr/bin/time -f "%U %S" -o "$WORK/smtp-source.time" \
        "$SMTP_SOURCE" $flag -s "$SESSIONS" -l "$SIZE" -m "$MSGS" \
        -f a@src.test -t b@dst.test "127.0.0.1:$port" >"$WORK/smtp-source.out" 2>&1 &
    SRC_PID=$!
    wait "$SRC_PID" || rc=$?
    SRC_PID=""
    t1=$(date +%s.%N)
    m1=$($CPU tree "$pid") c1=$($CPU machine)
    src=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { v = $1 + $2 } END { print v + 0 }' "$WORK/smtp-source.time")
    n=$("${mta}_count")
    status=ok
    if [ "$rc" != 0 ] || [ "$n" != "$MSGS" ]; then
        status=FAILED
        echo "  $mta $mode run $run: smtp-source exit $rc, $n queued of $MSGS:" >&2
        sed 's/^/    /' "$WORK/smtp-source.out" | tail -5 >&2
    fi
    awk -v mta="$mta" -v mode="$mode" -v run="$run" -v n="$MSGS" -v q="$n" -v t0="$t0" -v t1="$t1" \
        -v m0="$m0" -v m1="$m1" -v c0="$c0" -v c1="$c1" -v src="$src" -v st="$status" 'BEGIN {
            s = t1 - t0
            other = (c1 - c0) - (m1 - m0) - src # CPU of everything else on the machine
            if (other < 0) other = 0
            k = q > 0 ? q : 1 # per message actually queued (all of them when ok)
            printf "%s\t%s\t%d\t%d\t%d\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%.2f\t%s\n", mta, mode, run,
                n, q, s, q / s, (m1 - m0) * 1000 / k, (c1 - c0) * 1000 / k, src * 1000 / k,
                other / s, st }' | tee -a "$RESULTS" |
        awk -F'\t' '{ printf "%-8s %-6s run %d: %6d queued in %6.2fs = %7.1f msg/s | CPU ms/msg: MTA %.2f, smtp-source %.2f, machine %.2f | other load %.2f cores  %s\n", $1, $2, $3, $5, $6, $7, $8, $10, $9, $11, $12 }'
}

# ---- main ------------------------------------------------------------------
echo "# accept.sh $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -n): $(nproc) CPUs," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# smtp-source -s $SESSIONS -l $SIZE -m $MSGS [-d], $RUNS runs, pinned=$PIN, work dir $WORK"
for mta in $MTAS; do
    case $mta in
    postern) postern_setup; postern_start ;;
    postfix) postfix_setup; postfix_start ;;
    *) die "unknown MTA $mta" ;;
    esac
done
# interleaved, so that drift of the machine hits both alike
for run in $(seq "$RUNS"); do
    for mode in $MODES; do
        for mta in $MTAS; do
            run_one "$mta" "$mode" "$run"
        done
    done
done
pn_stop
pf_stop
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| MTA | load | runs (msg/s) | median msg/s | median MTA CPU ms/msg | median machine CPU ms/msg | other load (cores) |"
echo "|---|---|---|---|---|---|---|"
for mta in $MTAS; do
    for mode in $MODES; do
        rows=$(awk -F'\t' -v a="$mta" -v b="$mode" '$1 == a && $2 == b && $12 == "ok"' "$RESULTS")
        failed=$(awk -F'\t' -v a="$mta" -v b="$mode" '$1 == a && $2 == b && $12 != "ok"' "$RESULTS" | wc -l)
        runs=$(awk -F'\t' -v a="$mta" -v b="$mode" '$1 == a && $2 == b { printf "%s%s", sep, ($12 == "ok" ? sprintf("%.0f", $7) : "FAILED"); sep = " / " }' "$RESULTS")
        others=$(awk -F'\t' -v a="$mta" -v b="$mode" '$1 == a && $2 == b { printf "%s%s", sep, $11; sep = " / " }' "$RESULTS")
        label="${SIZE} B, $([ "$mode" = reuse ] && echo "-d" || echo "connection per message")"
        printf "| %s | %s | %s | **%s** | %s | %s | %s |\n" "$mta" "$label" "$runs" \
            "$(echo "$rows" | awk -F'\t' 'NF { printf "%.0f\n", $7 }' | median 2)" \
            "$(echo "$rows" | awk -F'\t' 'NF { printf "%.3f\n", $8 }' | median 2)" \
            "$(echo "$rows" | awk -F'\t' 'NF { printf "%.3f\n", $9 }' | median 2)" "$others"
        [ "$failed" = 0 ] || echo "  ($mta $mode: $failed failed run(s))" >&2
    done
done
[ -z "$RAW" ] || cat "$RESULTS" >>"$RAW"
if grep -q FAILED "$RESULTS"; then exit 1; fi
