#!/bin/bash
# bench/run.sh — postern against Postfix on this machine, every workload, one
# table (`make bench`; `make bench QUICK=1` for a look in under 3 minutes).
#
# Workloads (postern and Postfix alternate, run after run; RUNS each; medians):
#  acc-conn/acc-reuse  smtp-source -s 20 -l 1024 -m MSGS, a connection per message
#                      and -d; msg/s accepted into a durable queue and parked
#                      (postern: mailbox on a down LMTP server; Postfix: HOLD), as
#                      bench/accept.sh. Ceiling: smtp-sink (accepts, stores nothing).
#  acc-100k            the same with 100 KiB messages (-l 102400), a connection each.
#  relay-1k/relay-100k smtp-source -> MTA -> smtp-sink: msg/s from the first
#                      connection until the sink has counted them all (its -c
#                      counter). postern: accepted domain relay.test of type
#                      ExternalRelay, Send connector "Out" to the sink
#                      (-SmartHosts 127.0.0.1 -Port P -DNSRoutingEnabled $false);
#                      Postfix: relay_domains=relay.test, relayhost=[127.0.0.1]:P.
#  tls-rsa/tls-ec      bench/starttls_client.c, 20 connections, each a whole
#                      STARTTLS session (TLS 1.3, full handshake, 1 KiB message);
#                      the same RSA-2048 / ECDSA P-256 certificate for both MTAs.
#                      Ceiling: `openssl s_server` with that certificate and the
#                      client's `-s direct` (handshake right after connect, then
#                      close), no SMTP: handshakes/s of one s_server per CPU
#                      added up, and of a single s_server process.
#  tls-*-c1            the same, one connection at a time: p50 ms of a session.
#  eod-idle/eod-load   bench/eod_latency.py: end of DATA -> 250, p50 and p99 ms,
#                      one client alone, then beside smtp-source -s 20 (stopped
#                      when the client is done; the queue must then hold at least
#                      the client's messages, and exactly those when alone).
#  idle                bench/idle_memory.py (postern only: Postfix holds a session
#                      per smtpd process, 100 by default): RSS per idle session,
#                      plain and TLS, and the time one client takes to deliver a
#                      message while they are held.
#  recovery            (postern only) MSGS parked messages, postern stopped and
#                      started: seconds from start until Get-Queue (MessageCount
#                      summed) shows them all in the scheduler.
#  crash               (postern only) tests/crash/crashtest.py over CRASH rounds
#                      (200; QUICK 20): kill -9 at random moments under load; the
#                      run is ok only if no acknowledged message is lost or doubled.
# Every run checks itself: every message acknowledged and then present (in the
# queue, or counted at the sink for relay), or it is marked FAILED and left out.
# MTA CPU (bench/cpu.py tree, reaped children included) per unit is reported too.
#
# Before each run postern is stopped, restored from a copy of its instance taken
# after set-up (an empty queue) and started; Postfix (one instance, started once,
# an smtpd per workload kind) has its queue purged (postsuper -d ALL).
# Private: temp dirs, free loopback ports, a copy of /etc/postfix (bench/lib.sh);
# the system's Postfix is never touched. Everything started is stopped on exit.
#
# Usage: bench/run.sh [-q] [-w] [-o WORKLOADS]
#   -q  quick: 1 run each and fewer messages (also QUICK=1 in the environment)
#   -w  write the table as a dated section into bench/RESULTS.md (newest first)
#   -o  only these workloads (space-separated groups: accept relay tls latency idle recovery crash)
# Environment: POSTERN_BIN (default build/postern), KEEP_WORK=1, RECOV_MSGS (messages
# for recovery instead of 100,000 / 10,000).
# Needs root (postern drops to its service user; Postfix needs root to start).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=run.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
POSTERN=${POSTERN_BIN:-$ROOT/build/postern}
QUICK=${QUICK:-0} WRITE=0
if [ -n "${MAKELEVEL:-}" ]; then COMMAND="make bench"; else COMMAND="${RECOV_MSGS:+RECOV_MSGS=$RECOV_MSGS }bash bench/run.sh${*:+ $*}"; fi
ONLY="accept relay tls latency idle recovery crash"
while getopts "qwo:h" opt; do
    case $opt in
    q) QUICK=1 ;;
    w) WRITE=1 ;;
    o) ONLY=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 2 ;;
    esac
done
[ "$QUICK" = 0 ] || [ "$QUICK" = 1 ] || QUICK=1

if [ "$QUICK" = 1 ]; then
    RUNS=1 ACC=600 BIG=100 REL=600 REL_BIG=100 TLS_N=200 TLS_C1=20 LAT=60 IDLE=2000 RECOV=10000 CRASH=20
else
    RUNS=3 ACC=10000 BIG=1000 REL=5000 REL_BIG=1000 TLS_N=3000 TLS_C1=100 LAT=500 IDLE=15000 RECOV=100000 CRASH=200
fi
RECOV=${RECOV_MSGS:-$RECOV} # e.g. RECOV_MSGS=50000 bench/run.sh -o recovery
SESSIONS=20

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$POSTERN" ] || die "no postern binary at $POSTERN"
for t in smtp-source smtp-sink postfix postconf postsuper openssl cc pkg-config prlimit; do
    command -v "$t" >/dev/null || die "$t is not installed"
done

bench_workdir postern-run
R=$WORK/results.tsv # workload mta run value status cpu_per_unit value2
: >"$R"
cleanup() { bench_cleanup; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

LOAD_BEFORE=$(loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] || REV="$REV dirty"
echo "# bench/run.sh $DATE, $(machine_desc), load $LOAD_BEFORE, postern $REV ($POSTERN)," \
    "Postfix $(postconf -h mail_version), quick=$QUICK, work dir $WORK"

# ---- tools, keys, sink -----------------------------------------------------
CLIENT=$WORK/starttls_client
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -O2 -std=c11 -Wall -Wextra -Werror "$ROOT/bench/starttls_client.c" \
    $(pkg-config --cflags --libs openssl) -o "$CLIENT" || die "cannot build the client"
mkdir -p "$WORK/keys"
for k in rsa ec; do
    if [ "$k" = rsa ]; then alg=(-newkey rsa:2048); else alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
    openssl req -x509 "${alg[@]}" -nodes -days 30 -subj "/CN=mail.bench.test" \
        -addext "subjectAltName=DNS:mail.bench.test" -keyout "$WORK/keys/$k.key" \
        -out "$WORK/keys/$k.crt" 2>/dev/null || die "openssl could not make the $k key"
    cat "$WORK/keys/$k.crt" "$WORK/keys/$k.key" >"$WORK/keys/$k.bundle.pem"
    chmod 644 "$WORK/keys/$k.crt" "$WORK/keys/$k.key" "$WORK/keys/$k.bundle.pem"
done

# One smtp-sink for the whole run: the relay target and the accept ceiling. It
# counts messages ("mesg=N" after each "."); sink_count reads the latest count.
SINK_PORT=$(free_port)
smtp-sink -u postfix -c "127.0.0.1:$SINK_PORT" 1024 >"$WORK/sink.out" 2>&1 &
BENCH_PIDS+=($!)
sink_count() { tail -c 400 "$WORK/sink.out" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1 | awk '{ print $1 + 0 }'; }

# ---- instances -------------------------------------------------------------
# postern: one instance for clear text and relay (pn), two copies with the RSA
# and the ECDSA certificate (pn-rsa, pn-ec); all bind the same port, one runs at a time.
PN_PORT=$(free_port)
PN=$WORK/pn
pn_setup "$POSTERN" "$PN" "$PN_PORT" mail.bench.test >/dev/null
"$POSTERN" -D "$PN" New-AcceptedDomain -Name relay.test -DomainName relay.test \
    -DomainType ExternalRelay >/dev/null || die "postern: ExternalRelay domain"
# shellcheck disable=SC2016 # $false is postern's, literally
"$POSTERN" -D "$PN" New-SendConnector -Name Out -AddressSpaces '*' -SmartHosts 127.0.0.1 \
    -DNSRoutingEnabled '$false' -Port "$SINK_PORT" >/dev/null || die "postern: New-SendConnector"
for k in rsa ec; do
    cp -a "$PN" "$PN-$k"
    pn_use_cert "$POSTERN" "$PN-$k" "$WORK/keys/$k.bundle.pem"
    pn_snapshot "$PN-$k"
done
pn_snapshot "$PN"

# Postfix: one instance; smtpd services: park (HOLD), relay (delivers to the
# sink through relayhost), and one per key with STARTTLS, parking (HOLD).
PFP_PARK=$(free_port) PFP_RELAY=$(free_port) PFP_RSA=$(free_port) PFP_EC=$(free_port)
pf_setup "$WORK/postfix" "myhostname = mail.bench.test" \
    "relay_domains = relay.test" "relayhost = [127.0.0.1]:$SINK_PORT" \
    "smtpd_tls_protocols = >=TLSv1.3" "smtpd_tls_session_cache_database =" \
    "smtpd_tls_session_cache_timeout = 0" "tls_ssl_options = NO_TICKET" "smtpd_tls_loglevel = 0"
pf_add_smtpd "$PFP_PARK" "${PF_HOLD[@]}"
pf_add_smtpd "$PFP_RELAY"
for k in rsa ec; do
    if [ "$k" = rsa ]; then p=$PFP_RSA; else p=$PFP_EC; fi
    pf_add_smtpd "$p" "${PF_HOLD[@]}" -o smtpd_tls_security_level=may \
        -o "smtpd_tls_cert_file=$WORK/keys/$k.crt" -o "smtpd_tls_key_file=$WORK/keys/$k.key"
done

# fresh MTA for a run; sets PID (for CPU) and PORT
PID="" PORT=""
fresh() { # postern|postfix kind(park|relay|rsa|ec)
    local mta=$1 kind=$2 dir
    if [ "$mta" = postern ]; then
        pn_stop
        dir=$PN
        case $kind in rsa|ec) dir=$PN-$kind ;; esac
        pn_restore "$dir"
        pn_start "$POSTERN" "$dir" "$WORK/postern.log"
        PID=$PN_PID PORT=$PN_PORT CUR_PN=$dir
    else
        pn_stop
        [ -n "$PF_STARTED" ] || pf_start "$PFP_PARK"
        pf_purge
        case $kind in park) PORT=$PFP_PARK ;; relay) PORT=$PFP_RELAY ;; rsa) PORT=$PFP_RSA ;; ec) PORT=$PFP_EC ;; esac
        PID=$(pf_master_pid)
    fi
}
stop_all() { pn_stop; pf_stop; }
queued() { # mta: messages in its queue (postern: Get-Queue; Postfix: hold)
    if [ "$1" = postern ]; then pn_count "$POSTERN" "$CUR_PN"; else pf_count_hold; fi
}

record() { # workload mta run value status cpu_per_unit [value2]
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${7:--}" >>"$R"
    printf '  %-14s %-8s run %s: %-10s %-6s MTA CPU %s ms/unit %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${7:-}"
}
now() { date +%s.%N; }
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.3f\n", (n > 0 ? (b - a) * 1000 / n : 0) }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f\n", n / (b - a) }'; }

# ---- (1)(2) accept ---------------------------------------------------------
accept_run() { # workload mta run size mode msgs
    local w=$1 mta=$2 run=$3 size=$4 mode=$5 n=$6 flag=() rc=0 t0 t1 m0 m1 s0 got st=ok cpu
    [ "$mode" = reuse ] && flag=(-d)
    if [ "$mta" = sink ]; then PORT=$SINK_PORT PID=""; s0=$(sink_count); else fresh "$mta" park; fi
    sync
    sleep 0.5
    m0=$([ -z "$PID" ] || $CPU tree "$PID") t0=$(now)
    smtp-source "${flag[@]}" -s "$SESSIONS" -l "$size" -m "$n" -f a@src.test -t b@dst.test \
        "127.0.0.1:$PORT" >"$WORK/src.out" 2>&1 || rc=$?
    t1=$(now) m1=$([ -z "$PID" ] || $CPU tree "$PID")
    if [ "$mta" = sink ]; then
        sleep 0.2
        got=$(($(sink_count) - s0))
    else
        got=$(queued "$mta")
    fi
    if [ "$rc" != 0 ] || [ "$got" != "$n" ]; then
        st=FAILED
        echo "  $w $mta run $run: smtp-source exit $rc, $got of $n present" >&2
    fi
    cpu=-
    [ -z "$PID" ] || cpu=$(per "$m0" "$m1" "$n")
    record "$w" "$mta" "$run" "$(rate "$n" "$t0" "$t1")" "$st" "$cpu"
}

# ---- (3) relay -------------------------------------------------------------
relay_run() { # workload mta run size msgs
    local w=$1 mta=$2 run=$3 size=$4 n=$5 rc=0 t0 t1 m0 m1 s0 got=0 st=ok limit
    fresh "$mta" relay
    s0=$(sink_count)
    sync
    sleep 0.5
    m0=$($CPU tree "$PID") t0=$(now)
    smtp-source -s "$SESSIONS" -l "$size" -m "$n" -f a@src.test -t "r@relay.test" \
        "127.0.0.1:$PORT" >"$WORK/src.out" 2>&1 || rc=$?
    limit=$(awk -v t="$(now)" 'BEGIN { printf "%d\n", t + 300 }')
    while :; do
        got=$(($(sink_count) - s0))
        [ "$got" -lt "$n" ] || break
        [ "$(date +%s)" -lt "$limit" ] || break
        sleep 0.05
    done
    t1=$(now) m1=$($CPU tree "$PID")
    sleep 0.3
    got=$(($(sink_count) - s0)) # duplicates would show here
    if [ "$rc" != 0 ] || [ "$got" != "$n" ]; then
        st=FAILED
        echo "  $w $mta run $run: smtp-source exit $rc, $got of $n at the sink" >&2
    fi
    record "$w" "$mta" "$run" "$(rate "$n" "$t0" "$t1")" "$st" "$(per "$m0" "$m1" "$n")"
}

# ---- (4) STARTTLS ----------------------------------------------------------
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
tls_run() { # workload mta run key conns sessions what(rate|p50)
    local w=$1 mta=$2 run=$3 k=$4 c=$5 n=$6 what=$7 rc=0 m0 m1 line got st=ok want
    want=$([ "$k" = rsa ] && echo RSA-2048 || echo EC-256)
    if [ "$mta" = s_server ] || [ "$mta" = s_server1 ]; then
        ceiling_run "$@"
        return
    fi
    fresh "$mta" "$k"
    sync
    sleep 0.5
    m0=$($CPU tree "$PID")
    timeout 300 "$CLIENT" -c "$c" -n "$n" "127.0.0.1:$PORT" >"$WORK/client.out" 2>"$WORK/client.err" || rc=$?
    m1=$($CPU tree "$PID")
    line=$(grep '^starttls_client ' "$WORK/client.out" || true)
    got=$(queued "$mta")
    if [ "$rc" != 0 ] || [ "$(field ok "$line")" != "$n" ] || [ "$got" != "$n" ] ||
        [ "$(field server_key "$line")" != "$want" ] || [ "$(field tls "$line")" != TLSv1.3 ]; then
        st=FAILED
        echo "  $w $mta run $run: client exit $rc, $(field ok "$line") of $n sessions, $got queued, key $(field server_key "$line")" >&2
        head -3 "$WORK/client.err" >&2
    fi
    if [ "$what" = rate ]; then
        record "$w" "$mta" "$run" "$(field sessions_per_s "$line")" "$st" "$(per "$m0" "$m1" "$n")"
    else
        record "$w" "$mta" "$run" "$(field p50_ms "$line")" "$st" "$(per "$m0" "$m1" "$n")"
    fi
}

# The handshake ceiling: one `openssl s_server` per CPU (it is one process), each
# with its own port and a client doing `-s direct` handshakes (c/nproc
# connections, n/nproc handshakes); the handshakes/s of all added up. As
# s_server1: one s_server process with all c connections (the reference
# issue 10 names).
ceiling_run() { # workload s_server|s_server1 run key conns sessions
    local w=$1 who=$2 run=$3 k=$4 c=$5 n=$6 i cpus ports=() srvs=() clis=() rc=0 total=0 line st=ok want
    want=$([ "$k" = rsa ] && echo RSA-2048 || echo EC-256)
    stop_all
    cpus=$(nproc)
    [ "$who" = s_server ] || cpus=1
    for i in $(seq "$cpus"); do
        ports[i]=$(free_port)
        openssl s_server -quiet -rev -tls1_3 -cert "$WORK/keys/$k.crt" -key "$WORK/keys/$k.key" \
            -accept "127.0.0.1:${ports[i]}" </dev/null >/dev/null 2>&1 &
        srvs[i]=$!
        BENCH_PIDS+=("${srvs[i]}")
    done
    for i in $(seq "$cpus"); do
        for _ in $(seq 50); do
            /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',${ports[i]}),1)" 2>/dev/null && break
            sleep 0.1
        done
    done
    for i in $(seq "$cpus"); do
        timeout 300 "$CLIENT" -s direct -c $(((c + cpus - 1) / cpus)) -n $((n / cpus)) \
            "127.0.0.1:${ports[i]}" >"$WORK/ceiling.$i.out" 2>"$WORK/ceiling.$i.err" &
        clis[i]=$!
    done
    for i in $(seq "$cpus"); do
        wait "${clis[i]}" || rc=$?
        line=$(grep '^starttls_client ' "$WORK/ceiling.$i.out" || true)
        total=$(awk -v a="$total" -v b="$(field sessions_per_s "$line")" 'BEGIN { print a + b }')
        if [ "$(field ok "$line")" != $((n / cpus)) ] || [ "$(field server_key "$line")" != "$want" ]; then
            st=FAILED
        fi
    done
    for i in $(seq "$cpus"); do
        kill "${srvs[i]}" 2>/dev/null || true
        wait "${srvs[i]}" 2>/dev/null || true
    done
    [ "$rc" = 0 ] || st=FAILED
    [ "$st" = ok ] || { echo "  $w $who run $run: $(head -2 "$WORK"/ceiling.*.err)" >&2; }
    record "$w" "$who" "$run" "$total" "$st" -
}

# ---- (6) end of DATA -> 250 ------------------------------------------------
eod_run() { # workload(eod-idle|eod-load) mta run
    local w=$1 mta=$2 run=$3 rc=0 src="" early=0 line got st=ok
    fresh "$mta" park
    sync
    sleep 0.5
    if [ "$w" = eod-load ]; then
        # the load runs until the client is done, then it is stopped
        smtp-source -s "$SESSIONS" -l 1024 -m 10000000 -f a@src.test -t b@dst.test \
            "127.0.0.1:$PORT" >"$WORK/src.out" 2>&1 &
        src=$!
        BENCH_PIDS+=("$src")
        sleep 1
    fi
    line=$(/usr/bin/python3 "$ROOT/bench/eod_latency.py" -n "$LAT" "127.0.0.1:$PORT" 2>"$WORK/eod.err") || rc=$?
    if [ -n "$src" ]; then
        if kill -0 "$src" 2>/dev/null; then
            kill -TERM "$src" 2>/dev/null || true
        else
            early=1
            echo "  $w $mta run $run: the load ended before the client: $(tail -2 "$WORK/src.out")" >&2
        fi
        wait "$src" 2>/dev/null || true
    fi
    sleep 0.2
    got=$(queued "$mta") # the client's messages, and under load those smtp-source got in
    if [ "$rc" != 0 ] || [ "$early" != 0 ] || [ "$got" -lt "$LAT" ] ||
        { [ -z "$src" ] && [ "$got" != "$LAT" ]; }; then
        st=FAILED
        echo "  $w $mta run $run: client $rc, $got queued (client: $LAT): $line $(head -2 "$WORK/eod.err")" >&2
    fi
    record "$w" "$mta" "$run" "$(field p50_ms "$line")" "$st" - "$(field p99_ms "$line")"
}

# ---- (5) idle sessions -----------------------------------------------------
idle_run() { # run
    local run=$1 line st=ok
    stop_all
    line=$(POSTERN_BIN=$POSTERN /usr/bin/python3 "$ROOT/bench/idle_memory.py" "$IDLE" "$IDLE" 2>"$WORK/idle.err" |
        grep '^idle_memory ' || true)
    [ "$(field ok "$line")" = 1 ] || { st=FAILED; echo "  idle run $run: $line $(tail -2 "$WORK/idle.err")" >&2; }
    record idle-plain postern "$run" "$(field plain_bytes "$line")" "$st" -
    record idle-tls postern "$run" "$(field tls_bytes "$line")" "$st" -
    record idle-plain-msg postern "$run" "$(field plain_deliver_ms "$line")" "$st" -
    record idle-tls-msg postern "$run" "$(field tls_deliver_ms "$line")" "$st" -
}

# ---- (7) recovery ----------------------------------------------------------
# Messages in the running service's next-hop queues: Get-Queue's MessageCount
# summed over every queue but Submission (the only one Get-Queue shows when it
# reads the spool itself because the service does not answer; messages not yet
# routed are not counted either).
scheduled() {
    "$POSTERN" -D "$PN" Get-Queue 2>/dev/null | awk -F' *: *' '
        $1 == "Identity" { skip = ($2 ~ /\\Submission$/) }
        $1 == "MessageCount" && !skip { n += $2 } END { print n + 0 }'
}
recovery() {
    local run t0 t1 t2 got st fill=ok rc=0 limit
    fresh postern park
    t0=$(now)
    smtp-source -d -s "$SESSIONS" -l 1024 -m "$RECOV" -f a@src.test -t b@dst.test \
        "127.0.0.1:$PORT" >"$WORK/src.out" 2>&1 || rc=$?
    t1=$(now)
    got=$(queued postern)
    echo "  recovery: $got messages queued in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"
    if [ "$rc" != 0 ] || [ "$got" != "$RECOV" ]; then
        # the restart is still timed, with what is there, but the runs count as FAILED
        echo "  recovery: smtp-source exit $rc, $got of $RECOV queued: $(tail -3 "$WORK/src.out" | tr '\n' ' ')" >&2
        fill=FAILED
        [ "$got" -gt 0 ] || { record recovery postern 1 - FAILED -; return; }
        RECOV=$got
    fi
    for run in $(seq "$RUNS"); do
        pn_stop
        sync
        st=ok
        t0=$(now)
        PN_START_TIMEOUT=600 pn_start "$POSTERN" "$PN" "$WORK/postern.log"
        t1=$(now)
        limit=$(( $(date +%s) + 600 ))
        while got=$(scheduled); [ "$got" -lt "$RECOV" ] && [ "$(date +%s)" -lt "$limit" ]; do
            sleep 0.05
        done
        t2=$(now)
        [ "$got" = "$RECOV" ] || { st=FAILED; echo "  recovery run $run: $got of $RECOV after the restart" >&2; }
        [ "$fill" = ok ] || st=FAILED
        record recovery postern "$run" "$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.2f\n", b - a }')" "$st" - \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }')"
    done
    # the queue process's own account: from its start to "queue holds N message(s)"
    QLOAD=$(awk '/ info queue process started/ { s = $1 } / info queue holds [0-9]+ message/ { e = $1 }
        END { print s, e }' "$WORK/postern.log" | /usr/bin/python3 -c '
import sys, datetime
s, e = sys.stdin.read().split()
f = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
print(f"{(f(e) - f(s)).total_seconds():.2f}")' 2>/dev/null || echo "?")
    echo "  (postern log, last start: queue process start to \"queue holds\": $QLOAD s)"
}

# ---- (8) crash rounds --------------------------------------------------------
# The durability proof under the same build: value = seconds for all rounds.
crash() {
    local t0 t1 st=ok
    t0=$(now)
    /usr/bin/python3 "$ROOT/tests/crash/crashtest.py" --rounds "$CRASH" "$POSTERN" >"$WORK/crash.out" 2>&1 || st=FAILED
    t1=$(now)
    tail -2 "$WORK/crash.out" | sed 's/^/  crash: /'
    record crash postern 1 "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", b - a }')" "$st" -
}

# ---- main ------------------------------------------------------------------
has() { [[ " $ONLY " == *" $1 "* ]]; }
for run in $(seq "$RUNS"); do
    echo "# round $run of $RUNS, load $(loadavg)"
    if has accept; then
        for mode in conn reuse; do
            for mta in postern postfix sink; do accept_run "acc-$mode" "$mta" "$run" 1024 "$mode" "$ACC"; done
        done
        for mta in postern postfix sink; do accept_run acc-100k "$mta" "$run" 102400 conn "$BIG"; done
    fi
    if has relay; then
        for mta in postern postfix; do relay_run relay-1k "$mta" "$run" 1024 "$REL"; done
        for mta in postern postfix; do relay_run relay-100k "$mta" "$run" 102400 "$REL_BIG"; done
    fi
    if has tls; then
        for k in rsa ec; do
            for mta in postern postfix s_server s_server1; do tls_run "tls-$k" "$mta" "$run" "$k" 20 "$TLS_N" rate; done
            for mta in postern postfix; do tls_run "tls-$k-c1" "$mta" "$run" "$k" 1 "$TLS_C1" p50; done
        done
    fi
    if has latency; then
        for w in eod-idle eod-load; do
            for mta in postern postfix; do eod_run "$w" "$mta" "$run"; done
        done
    fi
done
stop_all
if has idle; then
    # one run in quick mode, else RUNS (each holds IDLE sessions twice)
    for run in $(seq "$RUNS"); do idle_run "$run"; done
fi
if has recovery; then recovery; fi
stop_all
if has crash; then crash; fi
LOAD_AFTER=$(loadavg)
echo "# load after: $LOAD_AFTER"

# ---- the table -------------------------------------------------------------
med() { # workload mta column
    awk -F'\t' -v w="$1" -v m="$2" -v c="$3" '$1 == w && $2 == m && $5 == "ok" && $c != "-" { print $c }' "$R" | median 2
}
runs_of() { # workload mta: the runs' values, FAILED shown
    awk -F'\t' -v w="$1" -v m="$2" '$1 == w && $2 == m { printf "%s%s", s, ($5 == "ok" ? $4 : "FAILED (" $4 ")"); s = " / " }' "$R"
}
fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "-" || x == "") print "-"; else printf "%.*f\n", d, x }'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "-" || y == "-" || x == "" || y == "" || y == 0) print "-"; else printf "%.2fx\n", x / y }'; }
row() { # workload label decimals [ceiling-mta ceiling-note] [second column label]
    local w=$1 label=$2 d=$3 cm=${4:-} pn pf pn2 pf2 ceil="-" cpu
    [ -n "$(awk -F'\t' -v w="$w" '$1 == w' "$R")" ] || return 0
    pn=$(fmt "$(med "$w" postern 4)" "$d") pf=$(fmt "$(med "$w" postfix 4)" "$d")
    if [ -n "${6:-}" ]; then # p50 / p99
        pn2=$(fmt "$(med "$w" postern 7)" "$d") pf2=$(fmt "$(med "$w" postfix 7)" "$d")
        pn="$pn / $pn2" pf="$pf / $pf2"
    fi
    [ -z "$cm" ] || ceil="$(fmt "$(med "$w" "$cm" 4)" "$d") ${5:-}"
    [ -z "$cm" ] || [ -z "$(awk -F'\t' -v w="$w" -v m="${cm}1" '$1 == w && $2 == m' "$R")" ] ||
        ceil="$ceil; $(fmt "$(med "$w" "${cm}1" 4)" "$d") (one s_server)"
    cpu="$(fmt "$(med "$w" postern 6)" 2) / $(fmt "$(med "$w" postfix 6)" 2)"
    printf '| %s | %s | %s | %s | %s | %s | %s / %s |\n' "$label" "$pn" "$pf" \
        "$(ratio "$(med "$w" postern 4)" "$(med "$w" postfix 4)")" "$ceil" "$cpu" \
        "$(runs_of "$w" postern)" "$(runs_of "$w" postfix)"
}
{
    echo "## bench/run.sh: $DATE, commit $REV$([ "$QUICK" = 1 ] && echo ", QUICK")"
    echo
    echo "Machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
        "kernel $(uname -r); load average $LOAD_BEFORE before, $LOAD_AFTER after."
    echo "postern \`$POSTERN\` (commit $REV), Postfix $(postconf -h mail_version), OpenSSL $(openssl version | cut -d' ' -f2)."
    echo "Command: \`$COMMAND$([ -n "${MAKELEVEL:-}" ] && [ "$QUICK" = 1 ] && echo " QUICK=1")\` (bench/run.sh: $RUNS run(s) per MTA and workload," \
        "alternating, medians of the valid runs; messages: accept $ACC, 100 KiB $BIG, relay $REL / $REL_BIG," \
        "STARTTLS $TLS_N sessions, latency $LAT messages, idle $IDLE sessions, recovery $RECOV messages)."
    echo
    echo "| workload | postern median | Postfix median | ratio | ceiling | MTA CPU ms per msg/session (postern / Postfix) | runs (postern / Postfix) |"
    echo "|---|---|---|---|---|---|---|"
    row acc-conn "accept 1 KiB, connection per message, 20 sessions (msg/s)" 0 sink "(smtp-sink)"
    row acc-reuse "accept 1 KiB, smtp-source -d, 20 sessions (msg/s)" 0 sink "(smtp-sink)"
    row acc-100k "accept 100 KiB, connection per message (msg/s)" 0 sink "(smtp-sink)"
    row relay-1k "relay 1 KiB, source → MTA → smtp-sink (msg/s at the sink)" 0
    row relay-100k "relay 100 KiB (msg/s at the sink)" 0
    row tls-rsa "STARTTLS RSA-2048, 20 connections (sessions/s)" 0 s_server "handshakes/s (openssl s_server × $(nproc))"
    row tls-ec "STARTTLS ECDSA P-256, 20 connections (sessions/s)" 0 s_server "handshakes/s (openssl s_server × $(nproc))"
    row tls-rsa-c1 "STARTTLS RSA-2048, one at a time: session p50 (ms, lower is better)" 1
    row tls-ec-c1 "STARTTLS ECDSA P-256, one at a time: session p50 (ms, lower is better)" 1
    row eod-idle "end of DATA → 250, one client alone: p50 / p99 (ms, lower is better)" 2 "" "" p99
    row eod-load "end of DATA → 250, beside smtp-source -s 20: p50 / p99 (ms, lower is better)" 2 "" "" p99
    row idle-plain "$IDLE idle plain sessions: RSS per session (bytes; Postfix: a process each, not run)" 0
    row idle-tls "$IDLE idle TLS sessions: RSS per session (bytes)" 0
    row idle-plain-msg "one message delivered while $IDLE plain sessions are held (ms, connect to QUIT)" 1
    row idle-tls-msg "one message delivered while $IDLE TLS sessions are held (ms)" 1
    row recovery "recovery: $RECOV parked messages, start until Get-Queue shows all (s; Postfix: no equivalent, not run)" 2
    row crash "crash test: $CRASH rounds of kill -9 under load, every acknowledged message delivered once (s for all rounds; ok only if so)" 0
    fails=$(awk -F'\t' '$5 != "ok"' "$R" | wc -l)
    [ "$fails" = 0 ] || { echo; echo "**$fails run(s) FAILED** and are left out of the medians."; }
    if has recovery; then
        echo
        echo "Recovery: postern was ready (\"postern ready\" logged) after $(awk -F'\t' '$1 == "recovery" && $5 == "ok" { print $7 }' "$R" | median 2) s (median);" \
            "its log of the last start: ${QLOAD:-?} s from \"queue process started\" to \"queue holds $RECOV message(s)\"."
    fi
} >"$WORK/report.md"
echo
cat "$WORK/report.md"
# The newest run goes first: right after the marker line of bench/RESULTS.md
# (at the end when the file has none).
MARK='<!-- make bench: newest run below -->'
if [ "$WRITE" = 1 ]; then
    if grep -qxF "$MARK" "$ROOT/bench/RESULTS.md"; then
        awk -v mark="$MARK" -v rep="$WORK/report.md" '
            { print } $0 == mark && !done { print ""; while ((getline l < rep) > 0) print l; done = 1 }' \
            "$ROOT/bench/RESULTS.md" >"$WORK/RESULTS.md" && cat "$WORK/RESULTS.md" >"$ROOT/bench/RESULTS.md"
    else
        { echo; cat "$WORK/report.md"; } >>"$ROOT/bench/RESULTS.md"
    fi
    echo "(written to bench/RESULTS.md)"
fi
if awk -F'\t' '$5 != "ok"' "$R" | grep -q .; then exit 1; fi
