#!/bin/bash
# bench/starttls.sh — new STARTTLS sessions per second: postern (A), optionally a
# second postern binary (B, to compare before/after a change in one run), and Postfix.
#
# Method (issue 10's hand measurement made standing): bench/starttls_client.c keeps
# 20 connections busy; each runs a whole session on a new connection: greeting, EHLO,
# STARTTLS, a full TLS 1.3 handshake (never resumed), EHLO, MAIL, RCPT, DATA with a
# 1 KiB message, QUIT. 3000 sessions per run; RSA-2048 and ECDSA P-256 certificates,
# the same key and certificate for every MTA; runs interleaved
# (A, B, Postfix, A, B, Postfix, ...), 3 each; medians reported.
#
#  * Keys: made here with openssl (self-signed, CN and SAN mail.bench.test).
#  * postern (POSTERN_BIN, default build/postern; POSTERN_BIN_B if set): per binary and
#    key a private instance in a temp dir on a free loopback port, made by that binary
#    (setup --fqdn mail.bench.test), the key imported with Import-ExchangeCertificate,
#    Enable-ExchangeCertificate -Services SMTP, the self-signed certificate of setup
#    removed (Remove-ExchangeCertificate) so that only ours can be chosen. Accepted
#    domain dst.test with mailbox b@dst.test on an LMTP server that is down (127.0.0.1:1):
#    each message is committed to the queue and parked (as bench/accept.sh);
#    per-source connection limit off. Before each run the instance is restored from a
#    copy taken before its first start (empty queue, fresh directories) and started;
#    it is stopped after the run. Its TLS is postern's default: it keeps a session
#    cache and sends TLS 1.3 tickets (counted; the client never uses them).
#  * Postfix: a private instance as bench/accept.sh makes it (a copy of /etc/postfix in
#    a temp dir, HOLD on every message, no chroot), with one smtpd service per key on its
#    own loopback port (-o smtpd_tls_cert_file/-o smtpd_tls_key_file), TLS "may",
#    smtpd_tls_protocols limited to the version under test, no session cache database,
#    smtpd_tls_session_cache_timeout = 0 and tls_ssl_options = NO_TICKET (no tickets).
#    Before each run it is stopped, its queue directory emptied, and started again.
#    The system's /etc/postfix and its instance are never touched.
# A run counts only if the client completed every session, every session used the
# expected key and TLS version, and the MTA's queue then holds exactly one message per
# session. Reported per run: sessions/s, CPU ms per session of the MTA (its process and
# every descendant, reaped children included: bench/cpu.py tree), of the client
# (getrusage) and of the machine (/proc/stat), "other load" (CPU neither used, in cores),
# latency p50/p99 of a whole session and of connect-to-end-of-handshake, TLS tickets per
# session.
#
# Usage: bench/starttls.sh [-n SESSIONS] [-c CONNS] [-l BYTES] [-r RUNS] [-k "rsa ec"]
#                          [-o "A B postfix"] [-s 1.3|1.2|any|none] [-p] [-R FILE] [-w]
#   -k       key types: rsa (RSA-2048), ec (ECDSA P-256)
#   -o       MTAs, in the order of each round (B only with POSTERN_BIN_B)
#   -s       TLS version the client insists on (none: clear text, no STARTTLS)
#   -p       pin: the MTA on CPU 1, the client on CPU 0
#   -R FILE  also append the raw results (TSV) to FILE
#   -w       also append the report as a section to bench/RESULTS.md
# Environment: POSTERN_BIN, POSTERN_BIN_B, STARTTLS_CLIENT (a built client; otherwise
# bench/starttls_client.c is compiled with cc into the work dir), KEEP_WORK=1.
# Needs root (postern drops to its service user; Postfix needs root to start).
# Time: 10-25 s per run on 2 cores, start and stop included; the default 3 runs x 2 keys
# x 3 MTAs took 9 minutes on a busy machine. `-n 500 -r 1` gives a quick look.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=starttls.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
POSTERN_A=${POSTERN_BIN:-$ROOT/build/postern}
POSTERN_B=${POSTERN_BIN_B:-}
SESSIONS=3000 CONNS=20 SIZE=1024 RUNS=3 KEYS="rsa ec" TLSV=1.3 PIN=0 RAW="" WRITE=0
MTAS="A${POSTERN_B:+ B} postfix"
RUN_TIMEOUT=120
FQDN=mail.bench.test
COMMAND="${POSTERN_BIN:+POSTERN_BIN=$POSTERN_BIN }${POSTERN_BIN_B:+POSTERN_BIN_B=$POSTERN_BIN_B }bash bench/starttls.sh${*:+ $*}"

while getopts "n:c:l:r:k:o:s:pR:wh" opt; do
    case $opt in
    n) SESSIONS=$OPTARG ;;
    c) CONNS=$OPTARG ;;
    l) SIZE=$OPTARG ;;
    r) RUNS=$OPTARG ;;
    k) KEYS=$OPTARG ;;
    o) MTAS=$OPTARG ;;
    s) TLSV=$OPTARG ;;
    p) PIN=1 ;;
    R) RAW=$OPTARG ;;
    w) WRITE=1 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || die "run as root"
for m in $MTAS; do
    case $m in
    A) [ -x "$POSTERN_A" ] || die "no postern binary at $POSTERN_A" ;;
    B) [ -x "${POSTERN_B:-/nonexistent}" ] || die "MTA B needs POSTERN_BIN_B (an executable)" ;;
    postfix) command -v postfix >/dev/null || die "Postfix is not installed" ;;
    *) die "MTA $m: A, B or postfix" ;;
    esac
done
for k in $KEYS; do case $k in rsa|ec) ;; *) die "key $k: rsa or ec" ;; esac; done
case $TLSV in 1.3|1.2|any|none) ;; *) die "-s $TLSV: 1.3, 1.2, any or none" ;; esac

CLI_PIN=()
if [ "$PIN" = 1 ]; then MTA_PIN=(taskset -c 1); CLI_PIN=(taskset -c 0); fi

bench_workdir postern-starttls
RESULTS=$WORK/results.tsv
REPORT=$WORK/report.md
: >"$RESULTS"
CLI_PID=""
declare -A PN_PORT PF_PORT

cleanup() {
    set +e
    if [ -n "$CLI_PID" ]; then
        kill -TERM "$CLI_PID" 2>/dev/null
        wait "$CLI_PID" 2>/dev/null
    fi
    bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- client and keys -------------------------------------------------------
make_key() { # rsa|ec -> $WORK/keys/KEY.{key,crt,bundle.pem}
    local k=$1 alg
    mkdir -p "$WORK/keys"
    if [ "$k" = rsa ]; then alg=(-newkey rsa:2048); else alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
    openssl req -x509 "${alg[@]}" -nodes -days 30 -subj "/CN=$FQDN" \
        -addext "subjectAltName=DNS:$FQDN" -keyout "$WORK/keys/$k.key" \
        -out "$WORK/keys/$k.crt" 2>/dev/null || die "openssl could not make the $k key"
    cat "$WORK/keys/$k.crt" "$WORK/keys/$k.key" >"$WORK/keys/$k.bundle.pem"
    chmod 600 "$WORK/keys/$k.key" "$WORK/keys/$k.bundle.pem"
}

expected_key() { [ "$1" = rsa ] && echo RSA-2048 || echo EC-256; }

# ---- postern ---------------------------------------------------------------
postern_bin() { [ "$1" = A ] && echo "$POSTERN_A" || echo "$POSTERN_B"; }

postern_setup() { # label key
    local label=$1 k=$2 bin dir port
    bin=$(postern_bin "$label") dir=$WORK/pn-$label-$k
    port=$(free_port)
    PN_PORT[$label-$k]=$port
    pn_setup "$bin" "$dir" "$port" "$FQDN"
    pn_use_cert "$bin" "$dir" "$WORK/keys/$k.bundle.pem"
    pn_snapshot "$dir"
}

postern_start() { # label key: the instance as set up (empty queue), started
    local dir=$WORK/pn-$1-$2 log=$WORK/postern-$1-$2.log
    pn_restore "$dir"
    : >"$log"
    pn_start "$(postern_bin "$1")" "$dir" "$log"
}
postern_stop() { pn_stop; }
postern_count() { pn_count "$(postern_bin "$1")" "$WORK/pn-$1-$2"; } # label key

# ---- Postfix (bench/lib.sh) ------------------------------------------------
postfix_setup() { # one smtpd per key, on its own port, parking on hold
    local k protocols
    case $TLSV in 1.3) protocols=">=TLSv1.3" ;; 1.2) protocols="<=TLSv1.2" ;; *) protocols=">=TLSv1.2" ;; esac
    pf_setup "$WORK/postfix" "myhostname = $FQDN" "syslog_name = postfix-starttls-bench" \
        "smtpd_tls_security_level = may" "smtpd_tls_protocols = $protocols" \
        "smtpd_tls_session_cache_database =" "smtpd_tls_session_cache_timeout = 0" \
        "tls_ssl_options = NO_TICKET" "smtpd_tls_loglevel = 0"
    for k in $KEYS; do
        PF_PORT[$k]=$(free_port)
        pf_add_smtpd "${PF_PORT[$k]}" "${PF_HOLD[@]}" -o "smtpd_tls_cert_file=$WORK/keys/$k.crt" \
            -o "smtpd_tls_key_file=$WORK/keys/$k.key"
    done
}
postfix_master_pid() { pf_master_pid; }
postfix_start() { pf_start "${PF_PORT[$1]}"; } # key
postfix_stop() { pf_stop; }
postfix_prepare() { pf_fresh_queue; }
postfix_count() { pf_count_hold; }

# ---- one run ---------------------------------------------------------------
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

run_one() { # mta key run
    local mta=$1 k=$2 run=$3 port pid t0 t1 m0 m1 c0 c1 rc=0 n line status why="" \
        want_tls want_key
    if [ "$mta" = postfix ]; then
        postfix_prepare
        postfix_start "$k"
        port=${PF_PORT[$k]} pid=$(postfix_master_pid)
    else
        postern_start "$mta" "$k"
        port=${PN_PORT[$mta-$k]} pid=$PN_PID
    fi
    sync
    sleep 1
    m0=$($CPU tree "$pid") c0=$($CPU machine)
    t0=$(date +%s.%N)
    # in the background, so that a signal to this script is handled at once
    "${CLI_PIN[@]}" timeout "$RUN_TIMEOUT" "$CLIENT" -c "$CONNS" -n "$SESSIONS" -l "$SIZE" \
        -s "$TLSV" "127.0.0.1:$port" >"$WORK/client.out" 2>"$WORK/client.err" &
    CLI_PID=$!
    wait "$CLI_PID" || rc=$?
    CLI_PID=""
    t1=$(date +%s.%N)
    m1=$($CPU tree "$pid") c1=$($CPU machine)
    if [ "$mta" = postfix ]; then
        postfix_stop
        n=$(postfix_count)
    else
        postern_stop
        n=$(postern_count "$mta" "$k")
    fi
    line=$(grep '^starttls_client ' "$WORK/client.out" || true)
    case $TLSV in 1.3) want_tls=TLSv1.3 ;; 1.2) want_tls=TLSv1.2 ;; none) want_tls=none ;; *) want_tls="" ;; esac
    want_key=$(expected_key "$k")
    [ "$TLSV" = none ] && want_key=-
    [ "$rc" = 0 ] || why="client exit $rc"
    [ "$(field ok "$line")" = "$SESSIONS" ] || why="$why; $(field ok "$line") of $SESSIONS sessions completed"
    [ "$n" = "$SESSIONS" ] || why="$why; $n queued of $SESSIONS"
    [ "$(field server_key "$line")" = "$want_key" ] || why="$why; server key $(field server_key "$line"), not $want_key"
    [ -z "$want_tls" ] || [ "$(field tls "$line")" = "$want_tls" ] || why="$why; $(field tls "$line"), not $want_tls"
    status=ok
    if [ -n "$why" ]; then
        status=FAILED
        echo "  $mta $k run $run FAILED: ${why#; }" >&2
        sed 's/^/    /' "$WORK/client.err" | head -5 >&2
    fi
    awk -v mta="$mta" -v k="$k" -v run="$run" -v n="$SESSIONS" -v q="$n" -v t0="$t0" -v t1="$t1" \
        -v m0="$m0" -v m1="$m1" -v c0="$c0" -v c1="$c1" -v line="$line" -v st="$status" 'BEGIN {
            split(line, kv, " ")
            for (i in kv) { split(kv[i], p, "="); f[p[1]] = p[2] }
            ok = f["ok"] + 0; k1 = ok > 0 ? ok : 1
            cli = f["client_cpu_ms"] * ok / 1000 # seconds
            other = (c1 - c0) - (m1 - m0) - cli
            if (other < 0) other = 0
            printf "%s\t%s\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
                mta, k, run, n, ok, q, f["seconds"], f["sessions_per_s"], (m1 - m0) * 1000 / k1,
                f["client_cpu_ms"], (c1 - c0) * 1000 / k1, other / (t1 - t0), f["p50_ms"], f["p99_ms"],
                f["tls_p50_ms"], f["tickets_per_session"], f["server_key"] "/" f["tls"] "/" f["group"], st,
                f["cipher"] }' | tee -a "$RESULTS" |
        awk -F'\t' '{ printf "%-8s %-3s run %d: %5d sessions in %6.2fs = %6.1f/s | CPU ms/session: MTA %.2f, client %.2f, machine %.2f | other load %.2f cores | p50 %s ms p99 %s ms, handshake p50 %s ms | tickets %s | %s  %s\n", $1, $2, $3, $5, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 }'
}

# ---- main ------------------------------------------------------------------
bin_id() { echo "$1 ($(stat -c %y "$1" | cut -d. -f1), sha256 $(sha256sum "$1" | cut -c1-12))"; }
{
    echo "# starttls.sh $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -n): $(nproc) CPUs," \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# client: -c $CONNS -n $SESSIONS -l $SIZE -s $TLSV; $RUNS runs; keys: $KEYS; MTAs: $MTAS; pinned=$PIN"
    for m in $MTAS; do
        case $m in
        A) echo "# postern A: $(bin_id "$POSTERN_A")" ;;
        B) echo "# postern B: $(bin_id "$POSTERN_B")" ;;
        postfix) echo "# Postfix $(postconf -h mail_version), OpenSSL $(openssl version | cut -d' ' -f2)" ;;
        esac
    done
} | tee "$WORK/head.txt"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CLIENT=${STARTTLS_CLIENT:-}
if [ -z "$CLIENT" ]; then
    CLIENT=$WORK/starttls_client
    # shellcheck disable=SC2046 # pkg-config's flags are words
    cc -O2 -std=c11 -Wall -Wextra -Werror "$ROOT/bench/starttls_client.c" \
        $(pkg-config --cflags --libs openssl) -o "$CLIENT" || die "cannot build the client"
fi
[ -x "$CLIENT" ] || die "no client at $CLIENT"
for k in $KEYS; do make_key "$k"; done
for m in $MTAS; do
    case $m in
    A|B) for k in $KEYS; do postern_setup "$m" "$k"; done ;;
    postfix) postfix_setup ;;
    esac
done
# interleaved, so that drift of the machine hits every MTA alike
for run in $(seq "$RUNS"); do
    for k in $KEYS; do
        for mta in $MTAS; do
            run_one "$mta" "$k" "$run"
        done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# load average after: $LOAD_AFTER"

col() { # mta key column: the values of the ok runs
    awk -F'\t' -v a="$1" -v b="$2" -v c="$3" '$1 == a && $2 == b && $18 == "ok" { print $c }' "$RESULTS"
}
num() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "-" || x == "") print "-"; else printf "%.*f\n", d, x }'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "-" || y == "-" || y == 0) print "-"; else printf "%.2fx\n", x / y }'; }
label() { case $1 in A) echo "postern A" ;; B) echo "postern B" ;; postfix) echo "Postfix $(postconf -h mail_version)" ;; esac; }
keyname() { [ "$1" = rsa ] && echo "RSA-2048" || echo "ECDSA P-256"; }
{
    echo "## STARTTLS sessions: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r);" \
        "load average $LOAD_BEFORE before, $LOAD_AFTER after."
    echo "Command: \`$COMMAND\` (client: \`starttls_client -c $CONNS -n $SESSIONS -l $SIZE -s $TLSV\`," \
        "$RUNS interleaved runs per MTA and key, medians)."
    for m in $MTAS; do
        case $m in
        A) echo "postern A: \`$(bin_id "$POSTERN_A")\`." ;;
        B) echo "postern B: \`$(bin_id "$POSTERN_B")\`." ;;
        esac
    done
    echo
    echo "| MTA | key | runs (sessions/s) | median sessions/s | vs Postfix | median MTA CPU ms/session | vs Postfix | session p50 / p99 ms | connect→handshake done p50 ms | TLS tickets/session | other load (cores) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for k in $KEYS; do
        pf_rate=$(col postfix "$k" 8 | median 3) pf_cpu=$(col postfix "$k" 9 | median 3)
        for m in $MTAS; do
            runs=$(awk -F'\t' -v a="$m" -v b="$k" '$1 == a && $2 == b { printf "%s%s", sep, ($18 == "ok" ? sprintf("%.0f", $8) : "FAILED"); sep = " / " }' "$RESULTS")
            others=$(awk -F'\t' -v a="$m" -v b="$k" '$1 == a && $2 == b { printf "%s%s", sep, $12; sep = " / " }' "$RESULTS")
            rate=$(col "$m" "$k" 8 | median 3) cpu=$(col "$m" "$k" 9 | median 3)
            if [ "$m" = postfix ]; then vr="-" vc="-"; else vr=$(ratio "$rate" "$pf_rate") vc=$(ratio "$cpu" "$pf_cpu"); fi
            printf "| %s | %s | %s | **%s** | %s | %s | %s | %s / %s | %s | %s | %s |\n" "$(label "$m")" \
                "$(keyname "$k")" "$runs" "$(num "$rate" 0)" "$vr" \
                "$(num "$cpu" 2)" "$vc" \
                "$(col "$m" "$k" 13 | median 3)" "$(col "$m" "$k" 14 | median 3)" \
                "$(col "$m" "$k" 15 | median 3)" "$(col "$m" "$k" 16 | median 3)" "$others"
        done
    done
    if [[ " $MTAS " == *" A "* && " $MTAS " == *" B "* ]]; then
        echo
        for k in $KEYS; do
            echo "B against A, $(keyname "$k"): sessions/s $(ratio "$(col B "$k" 8 | median 3)" "$(col A "$k" 8 | median 3)")," \
                "MTA CPU per session $(ratio "$(col B "$k" 9 | median 3)" "$(col A "$k" 9 | median 3)")."
        done
    fi
    fails=$(awk -F'\t' '$18 != "ok"' "$RESULTS" | wc -l)
    [ "$fails" = 0 ] || echo "**$fails run(s) FAILED** and are left out of the medians."
} >"$REPORT"
echo
cat "$REPORT"
[ -z "$RAW" ] || cat "$RESULTS" >>"$RAW"
if [ "$WRITE" = 1 ]; then
    { echo; cat "$REPORT"; } >>"$ROOT/bench/RESULTS.md"
    echo "(appended to bench/RESULTS.md)"
fi
if grep -q FAILED "$RESULTS"; then exit 1; fi
