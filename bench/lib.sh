# bench/lib.sh — the set-up shared by bench/accept.sh, bench/starttls.sh and
# bench/run.sh: private postern instances, a private Postfix instance, free
# loopback ports, medians and the machine's description. Sourced, never run.
#
# It must never touch the system's Postfix (/etc/postfix is only copied, the
# copy gets its own queue, data and meta directories, and listens only on the
# loopback ports given to it) nor any postern instance outside the work dir,
# and it only ever stops processes it started itself (by their pid).
#
# The sourcing script sets BENCH_NAME (for messages) and may set MTA_PIN (an
# array: a command prefix for the MTAs, e.g. (taskset -c 1)); it calls
# bench_workdir, then bench_cleanup from its EXIT trap.
# shellcheck shell=bash

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CPU="/usr/bin/python3 $BENCH_ROOT/bench/cpu.py"
PARK_LMTP=127.0.0.1:1 # nothing listens there: mail for dst.test waits in the queue
if ! declare -p MTA_PIN >/dev/null 2>&1; then MTA_PIN=(); fi
WORK="" PN_PID="" PF="" PF_STARTED=""

die() { echo "${BENCH_NAME:-bench}: $*" >&2; exit 1; }
free_port() { $CPU port; }

# A private work dir the postern service user can reach.
bench_workdir() { # prefix
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$WORK"
}

machine_desc() {
    echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The median of numbers on stdin, "-" if none; the mean of the two middle ones
# with DECIMALS decimals (default 2).
median() {
    sort -g | awk -v d="${1:-2}" '{ v[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
        else printf "%.*f\n", d, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- postern ---------------------------------------------------------------
# A new instance in DIR on 127.0.0.1:PORT: accepted domain dst.test whose mailbox
# b@dst.test lives on an LMTP server that is down (PARK_LMTP), so that every
# message accepted for it is committed to the queue and parked in Retry; the
# per-source connection limit off (Postfix exempts $mynetworks from its limits
# too). Sets PN_RC to the name of the Receive connector setup made.
pn_setup() { # bin dir port fqdn
    local bin=$1 dir=$2 port=$3 fqdn=$4
    PN_RC=$("$bin" -D "$dir" setup --fqdn "$fqdn" --bind "127.0.0.1:$port" |
        sed -n 's/^ *Receive connector "\(.*\)":.*/\1/p' | head -1)
    [ -n "$PN_RC" ] || die "postern setup in $dir named no receive connector"
    "$bin" -D "$dir" New-AcceptedDomain -Name dst.test -DomainName dst.test \
        -LmtpServer "$PARK_LMTP" >/dev/null || die "postern: New-AcceptedDomain failed"
    "$bin" -D "$dir" New-Mailbox -Name b -PrimarySmtpAddress b@dst.test \
        -Password Bench-Secret-1 >/dev/null || die "postern: New-Mailbox failed"
    "$bin" -D "$dir" Set-ReceiveConnector "$PN_RC" \
        -MaxInboundConnectionPerSource unlimited >/dev/null || die "postern: Set-ReceiveConnector failed"
}

# Makes BUNDLE (certificate and key, PEM) the instance's only SMTP certificate.
pn_use_cert() { # bin dir bundle
    local bin=$1 dir=$2 bundle=$3 old out tp t
    old=$("$bin" -D "$dir" Get-ExchangeCertificate | sed -n 's/^Thumbprint *: *\([0-9A-F]\{40\}\)$/\1/p')
    out=$("$bin" -D "$dir" Import-ExchangeCertificate -FileName "$bundle") ||
        die "postern: Import-ExchangeCertificate of $bundle failed"
    tp=$(echo "$out" | sed -n 's/^Thumbprint *: *\([0-9A-F]\{40\}\)$/\1/p' | head -1)
    [ -n "$tp" ] || die "postern: no thumbprint in: $out"
    "$bin" -D "$dir" Enable-ExchangeCertificate -Thumbprint "$tp" -Services SMTP >/dev/null
    for t in $old; do
        [ "$t" = "$tp" ] || "$bin" -D "$dir" Remove-ExchangeCertificate -Thumbprint "$t" >/dev/null
    done
}

# Keeps a copy of the instance as it is now; pn_restore brings it back (an empty
# queue in fresh directories, whatever the queue's on-disk layout).
pn_snapshot() { rm -rf "$1.pristine"; cp -a "$1" "$1.pristine"; }
pn_restore() { rm -rf "$1"; cp -a "$1.pristine" "$1"; }

# Starts `postern run` in the background (after MTA_PIN and any extra command
# prefix given after LOG, e.g. prlimit) and waits for "postern ready" in LOG, at
# most PN_START_TIMEOUT seconds (default 10).
pn_start() { # bin dir log [prefix...]
    local bin=$1 dir=$2 log=$3 before
    shift 3
    before=$(grep -c "postern ready" "$log" 2>/dev/null || true)
    "${MTA_PIN[@]}" "$@" "$bin" -D "$dir" run >>"$log" 2>&1 &
    PN_PID=$!
    for _ in $(seq $((${PN_START_TIMEOUT:-10} * 20))); do
        [ "$(grep -c "postern ready" "$log" || true)" -gt "${before:-0}" ] && return 0
        kill -0 "$PN_PID" 2>/dev/null || break
        sleep 0.05
    done
    tail -20 "$log" >&2
    die "postern did not start (instance $dir)"
}

pn_stop() {
    [ -n "$PN_PID" ] || return 0
    kill -TERM "$PN_PID" 2>/dev/null || true
    wait "$PN_PID" 2>/dev/null || true
    PN_PID=""
}

# Messages in the instance's queue, as postern itself counts them (Get-Queue's
# MessageCount summed over the queues): asks the service when it runs, reads
# the queue otherwise. Independent of the queue's on-disk layout.
pn_count() { # bin dir
    "$1" -D "$2" Get-Queue 2>/dev/null | awk -F: '/^MessageCount/ { n += $2 } END { print n + 0 }'
}

# ---- Postfix ---------------------------------------------------------------
# A private instance in PF (set here to DIR): a copy of /etc/postfix with its own
# queue_directory, data_directory and meta_directory, IPv4 loopback only,
# mynetworks 127.0.0.0/8 (relay allowed from there), no DNS, no chroot, its log
# in DIR/postfix.log, and no smtpd of the copied master.cf (pf_add_smtpd adds
# ours). Extra main.cf settings ("name = value") may follow.
pf_setup() { # dir [setting...]
    PF=$1
    shift
    mkdir -p "$PF/etc" "$PF/queue" "$PF/data"
    cp -a /etc/postfix/. "$PF/etc/"
    rm -f "$PF/etc/makedefs.out" # a symlink out of the directory; informational only
    chown postfix: "$PF/data"
    pfconf -e "queue_directory = $PF/queue" "data_directory = $PF/data" \
        "meta_directory = $PF/etc" \
        "inet_interfaces = loopback-only" "inet_protocols = ipv4" \
        "mynetworks = 127.0.0.0/8" "smtpd_relay_restrictions = permit_mynetworks, reject" \
        "smtpd_peername_lookup = no" "smtp_dns_support_level = disabled" \
        "mydestination =" "relayhost =" "alias_maps =" "alias_database =" \
        "syslog_name = postfix-bench" \
        "maillog_file = $PF/postfix.log" "maillog_file_prefixes = $PF" \
        "smtpd_tls_security_level = none" "smtp_tls_security_level = none"
    [ $# = 0 ] || pfconf -e "$@" # after the defaults, so that these win
    # the copied smtp/inet service would be port 25; no chroot anywhere
    pfconf -M# smtp/inet
    pfconf -F '*/*/chroot = n'
}
pfconf() { postconf -c "$PF/etc" "$@"; }

# An smtpd on 127.0.0.1:PORT, with its own -o settings if given.
pf_add_smtpd() { # port [-o name=value ...]
    local port=$1
    shift
    pfconf -Me "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd $*"
}

# The setting that parks every message accepted on a service on hold (fsynced
# into the queue by cleanup, never delivered): Postfix's accept-and-park.
# shellcheck disable=SC2034 # used by the scripts that source this file
PF_HOLD=(-o "smtpd_data_restrictions=check_client_access,static:HOLD")

pf_master_pid() { awk '{print $1; exit}' "$PF/queue/pid/master.pid" 2>/dev/null; }

pf_start() { # port: waits for the greeting of the smtpd on it
    local port=$1
    "${MTA_PIN[@]}" postfix -c "$PF/etc" start >>"$PF/start.log" 2>&1 ||
        { cat "$PF/start.log" >&2; die "postfix start failed"; }
    PF_STARTED=1
    for _ in $(seq 100); do
        if /usr/bin/python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),2); sys.exit(0 if s.recv(64).startswith(b'220') else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "Postfix does not answer on 127.0.0.1:$port"
}

pf_stop() {
    local pid
    [ -n "$PF_STARTED" ] || return 0
    pid=$(pf_master_pid || true)
    postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    PF_STARTED=""
}

pf_purge() { # while it runs
    postsuper -c "$PF/etc" -d ALL >/dev/null 2>&1 || true
    [ "$(pf_count_hold)" = 0 ] || die "Postfix hold queue not empty after postsuper -d ALL"
}
pf_fresh_queue() { find "$PF/queue" -mindepth 1 -delete; } # stopped; start remakes it
pf_count_hold() { find "$PF/queue/hold" -type f 2>/dev/null | wc -l; }

# ---- clean-up --------------------------------------------------------------
# Stops what was started (postern, Postfix, and the pids in BENCH_PIDS) and
# removes the work dir unless KEEP_WORK is set.
BENCH_PIDS=()
bench_cleanup() {
    local p
    set +e
    for p in "${BENCH_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    pn_stop
    pf_stop
    [ -z "$WORK" ] || [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
