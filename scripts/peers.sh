#!/usr/bin/env bash
# Installs, starts and stops the peer brokers we compare against, on 127.0.0.1
# only, each start with fresh private data directories (shared/PEERS.md).
#
#   scripts/peers.sh install [rabbitmq|activemq|all]
#   scripts/peers.sh start   rabbitmq|activemq [--port PORT] [--timeout SECONDS]
#                            [--web-stomp-port PORT]   # rabbitmq: also STOMP over WebSocket
#                            # (rabbitmq_web_stomp, path /ws); prints web_stomp=127.0.0.1:PORT
#   scripts/peers.sh stop    rabbitmq|activemq|all
#   scripts/peers.sh status  [rabbitmq|activemq|all]
#   scripts/peers.sh kill    rabbitmq|activemq      # SIGKILL, keeping its folder (data)
#   scripts/peers.sh halt    rabbitmq|activemq      # clean stop, keeping its folder
#   scripts/peers.sh restart rabbitmq|activemq [--timeout SECONDS]
#                            # (halt if running, then) start again on the kept folder
#
# `start` waits until the STOMP port accepts (default timeout 60 s) and prints
# key=value lines the harness reads:
#   name=rabbitmq  pid=<beam.smp or java pid, the root of the tree to sample>
#   stomp=127.0.0.1:61613  version=3.10.8  dir=<private folder>  login=guest ...
# `stop` stops the broker and deletes its private folder. `kill`, `halt` and
# `restart` keep it, so that a restarted broker finds its persisted messages
# (the harness's crash and restart phases); `restart` prints what `start` does.
# State lives in $PEERS_STATE_DIR (default /tmp/stampede-peers).
set -euo pipefail

state_root=${PEERS_STATE_DIR:-/tmp/stampede-peers}
default_port=61613
default_timeout=60

die() { echo "peers.sh: $*" >&2; exit 1; }

package_of() {
    case "$1" in
        rabbitmq) echo rabbitmq-server ;;
        activemq) echo activemq ;;
        *) die "unknown broker '$1' (rabbitmq or activemq)" ;;
    esac
}

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

package_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed 's/[-+].*//'; }

install_broker() {
    local pkg
    pkg=$(package_of "$1")
    is_installed "$pkg" && return 0
    [ "$(id -u)" -eq 0 ] || die "need root to install $pkg"
    echo "peers.sh: installing $pkg" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package tries to start a system service; that is refused here (no
    # init system) and harmless, so a failing post-install start is tolerated
    # as long as the package ends up installed.
    apt-get install -y --no-install-recommends "$pkg" >&2 ||
        { apt-get update -q >&2 && apt-get install -y --no-install-recommends "$pkg" >&2; } ||
        true
    is_installed "$pkg" || die "could not install $pkg"
    # A service the package did start would hold the ports we need.
    if command -v service >/dev/null; then service "$pkg" stop >/dev/null 2>&1 || true; fi
}

# Waits until 127.0.0.1:$1 accepts a TCP connection or $2 seconds pass, while
# process $3 (when given) is alive.
wait_for_port() {
    local port=$1 timeout=$2 pid=${3:-} deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
        sleep 0.25
    done
    return 1
}

port_is_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the pid of the first process named $2 in the tree under pid $1.
find_in_tree() {
    local root=$1 name=$2 pid comm kids
    local -a todo=("$root")
    while [ ${#todo[@]} -gt 0 ]; do
        pid=${todo[0]}; todo=("${todo[@]:1}")
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        if [ "$comm" = "$name" ]; then echo "$pid"; return 0; fi
        kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
        # shellcheck disable=SC2206
        todo+=($kids)
    done
    return 1
}

# --- RabbitMQ -------------------------------------------------------------

rabbitmq_env() {
    local d=$1
    echo "RABBITMQ_CONFIG_FILE=$d/rabbitmq RABBITMQ_NODENAME=rabbit@localhost" \
        "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1" \
        "RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins RABBITMQ_MNESIA_BASE=$d/mnesia" \
        "RABBITMQ_LOG_BASE=$d/log"
}

rabbitmq_prepare() {
    local d=$1 port=$2 web_stomp_port=${3:-}
    mkdir -p "$d/mnesia" "$d/log"
    printf '%s\n' 'listeners.tcp.default = 127.0.0.1:5672' \
        "stomp.listeners.tcp.1 = 127.0.0.1:$port" 'loopback_users = none' \
        'management_agent.disable_metrics_collector = true' > "$d/rabbitmq.conf"
    if [ -n "$web_stomp_port" ]; then
        printf '%s\n' "web_stomp.tcp.ip = 127.0.0.1" "web_stomp.tcp.port = $web_stomp_port" \
            >> "$d/rabbitmq.conf"
        echo '[rabbitmq_stomp,rabbitmq_web_stomp].' > "$d/enabled_plugins"
    else
        echo '[rabbitmq_stomp].' > "$d/enabled_plugins"
    fi
    chown -R rabbitmq:rabbitmq "$d"
}

rabbitmq_launch() {
    local d=$1
    # shellcheck disable=SC2046
    # What Debian's rabbitmq-server wrapper does (su to rabbitmq), except that
    # its su resets the soft descriptor limit to 1024 (pam_limits), which
    # ends the conns phase at about 830 connections: raise it again inside.
    env $(rabbitmq_env "$d") setsid su rabbitmq -s /bin/sh -c \
        "ulimit -n \$(ulimit -Hn); cd /var/lib/rabbitmq; exec /usr/lib/rabbitmq/bin/rabbitmq-server" \
        > "$d/console.log" 2>&1 < /dev/null &
    echo $!
}

rabbitmq_halt() {
    local d=$1
    # shellcheck disable=SC2046
    env $(rabbitmq_env "$d") timeout 30 rabbitmqctl stop >/dev/null 2>&1 || true
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true
}

# --- ActiveMQ -------------------------------------------------------------

activemq_prepare() {
    local d=$1 port=$2 conf
    mkdir -p "$d/data" "$d/tmp"
    cp -r /etc/activemq/instances-available/main/. "$d/conf/" 2>/dev/null ||
        { mkdir -p "$d/conf" && cp -r /etc/activemq/instances-available/main/. "$d/conf/"; }
    conf=$d/conf/activemq.xml
    # Paths made absolute and private: left as ${activemq.base}/data they land
    # in /var/lib/activemq/data, owned by root, and the broker waits forever
    # on its lock file.
    sed -i \
        -e "s#dataDirectory=\"[^\"]*\"#dataDirectory=\"$d/data\"#" \
        -e "s#<kahaDB directory=\"[^\"]*\"#<kahaDB directory=\"$d/data/kahadb\"#" \
        "$conf"
    # Only the STOMP connector on 127.0.0.1, beside the openwire one (also
    # moved to loopback).
    sed -i -E \
        -e 's#uri="tcp://[^:"]*:61616([^"]*)"#uri="tcp://127.0.0.1:61616\1"#' \
        -e "s#(<transportConnector name=\"openwire\"[^>]*/>)#\1\n            <transportConnector name=\"stomp\" uri=\"stomp+nio://127.0.0.1:$port\"/>#" \
        "$conf"
    grep -q "stomp+nio://127.0.0.1:$port" "$conf" || die "could not add the STOMP connector to $conf"
    grep -q "dataDirectory=\"$d/data\"" "$conf" || die "could not set dataDirectory in $conf"
    # PEERS_ACTIVEMQ_FEATURES=1 turns on what ActiveMQ leaves off by default
    # and the destination probe compares against: the scheduler
    # (AMQ_SCHEDULED_DELAY) and priority dispatch on every queue.
    if [ "${PEERS_ACTIVEMQ_FEATURES:-0}" = 1 ]; then
        sed -i -E \
            -e 's#useJmx="false"#useJmx="false" schedulerSupport="true"#' \
            -e 's#(<persistenceAdapter>)#<destinationPolicy><policyMap><policyEntries><policyEntry queue=">" prioritizedMessages="true"/></policyEntries></policyMap></destinationPolicy>\n        \1#' \
            "$conf"
        grep -q 'schedulerSupport="true"' "$conf" || die "could not turn on schedulerSupport in $conf"
    fi
    chown -R activemq:activemq "$d"
}

activemq_launch() {
    local d=$1
    ACTIVEMQ_BASE=$d ACTIVEMQ_CONF=$d/conf ACTIVEMQ_DATA=$d/data ACTIVEMQ_TMP=$d/tmp \
        ACTIVEMQ_OPTS="-Xms512M -Xmx512M" \
        setsid activemq console "xbean:file:$d/conf/activemq.xml" > "$d/console.log" 2>&1 < /dev/null &
    echo $!
}

activemq_halt() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
}

# --- common ---------------------------------------------------------------

broker_process_name() { case "$1" in rabbitmq) echo beam.smp ;; activemq) echo java ;; esac; }

start_broker() {
    local name=$1; shift
    local port=$default_port timeout=$default_timeout web_stomp_port=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port=$2; shift 2 ;;
            --timeout) timeout=$2; shift 2 ;;
            --web-stomp-port) web_stomp_port=$2; shift 2 ;;
            *) die "start: unknown argument '$1'" ;;
        esac
    done
    [ -n "$web_stomp_port" ] && [ "$name" != rabbitmq ] && die "--web-stomp-port: rabbitmq only"
    [ -n "$web_stomp_port" ] && port_is_busy "$web_stomp_port" && die "127.0.0.1:$web_stomp_port is already in use"
    local pkg; pkg=$(package_of "$name")
    is_installed "$pkg" || die "$pkg is not installed (scripts/peers.sh install $name)"
    [ -e "$state_root/$name/pid" ] && die "$name looks started already (scripts/peers.sh stop $name)"
    port_is_busy "$port" && die "127.0.0.1:$port is already in use"

    mkdir -p "$state_root/$name"
    local d; d=$(mktemp -d "/tmp/peer-$name.XXXXXX")
    chmod 755 "$d"
    echo "$d" > "$state_root/$name/dir"
    echo "$port" > "$state_root/$name/port"
    "${name}_prepare" "$d" "$port" $web_stomp_port
    # Ten thousand client connections need as many descriptors; the soft
    # limit (often 1024) is what the broker inherits.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local launcher; launcher=$("${name}_launch" "$d")
    echo "$launcher" > "$state_root/$name/launcher"

    local rc=0 started=$SECONDS
    wait_for_port "$port" "$timeout" "$launcher" || rc=$?
    if [ "$rc" -ne 0 ]; then
        local why="did not accept on 127.0.0.1:$port within $timeout s"
        [ "$rc" -eq 2 ] && why="exited before accepting on 127.0.0.1:$port"
        echo "peers.sh: $name $why; last lines of $d/console.log:" >&2
        tail -n 20 "$d/console.log" >&2 || true
        stop_broker "$name" keep-dir
        die "$name failed to start (its folder $d is kept for a look)"
    fi
    if [ -n "$web_stomp_port" ] && ! wait_for_port "$web_stomp_port" "$timeout" "$launcher"; then
        echo "peers.sh: $name: web-stomp did not accept on 127.0.0.1:$web_stomp_port" >&2
        tail -n 20 "$d/console.log" >&2 || true
        stop_broker "$name" keep-dir
        die "$name failed to start web-stomp (its folder $d is kept for a look)"
    fi
    local pid; pid=$(find_in_tree "$launcher" "$(broker_process_name "$name")") || pid=$launcher
    echo "$pid" > "$state_root/$name/pid"
    [ -n "$web_stomp_port" ] && echo "web_stomp=127.0.0.1:$web_stomp_port"
    local login="" passcode=""
    [ "$name" = rabbitmq ] && { login=guest; passcode=guest; }
    printf '%s\n' "name=$name" "pid=$pid" "stomp=127.0.0.1:$port" \
        "version=$(package_version "$pkg")" "dir=$d" "login=$login" "passcode=$passcode" \
        "startup_seconds=$((SECONDS - started))"
}

stop_broker() {
    local name=$1 keep=${2:-} s=$state_root/$1
    [ -d "$s" ] || return 0
    local d pid launcher
    d=$(cat "$s/dir" 2>/dev/null || true)
    pid=$(cat "$s/pid" 2>/dev/null || true)
    launcher=$(cat "$s/launcher" 2>/dev/null || true)
    case "$name" in
        rabbitmq) [ -n "$d" ] && rabbitmq_halt "$d" ;;
        activemq) [ -n "$pid" ] && activemq_halt "$pid" ;;
    esac
    # Whatever the wrapper left behind: its whole session (we started it with
    # setsid), first politely, then not.
    if [ -n "$launcher" ]; then
        kill -TERM -- "-$launcher" 2>/dev/null || true
        local i
        for i in $(seq 1 20); do kill -0 -- "-$launcher" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$launcher" 2>/dev/null || true
    fi
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    [ -z "$keep" ] && [ -n "$d" ] && case "$d" in /tmp/peer-*) rm -rf "$d" ;; esac
    rm -rf "$s"
    echo "peers.sh: $name stopped" >&2
}

# Ends the broker's whole session: SIGTERM first unless $2 is "now".
end_session() {
    local launcher=$1 how=${2:-} i
    [ -n "$launcher" ] || return 0
    if [ "$how" != now ]; then
        kill -TERM -- "-$launcher" 2>/dev/null || true
        for i in $(seq 1 20); do kill -0 -- "-$launcher" 2>/dev/null || break; sleep 0.25; done
    fi
    kill -KILL -- "-$launcher" 2>/dev/null || true
}

# SIGKILL (no chance to flush anything), keeping the folder and the state.
kill_broker() {
    local name=$1 s=$state_root/$1 pid
    [ -e "$s/dir" ] || die "$name was not started by peers.sh"
    pid=$(cat "$s/pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    end_session "$(cat "$s/launcher" 2>/dev/null || true)" now
    if [ -n "$pid" ]; then
        local i
        for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$s/pid" "$s/launcher"
    echo "peers.sh: $name killed (folder kept)" >&2
}

# The broker's clean stop, keeping the folder and the state.
halt_broker() {
    local name=$1 s=$state_root/$1 d pid
    [ -e "$s/dir" ] || die "$name was not started by peers.sh"
    d=$(cat "$s/dir"); pid=$(cat "$s/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        case "$name" in
            rabbitmq) rabbitmq_halt "$d" ;;
            activemq) activemq_halt "$pid" ;;
        esac
        local i
        for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    end_session "$(cat "$s/launcher" 2>/dev/null || true)"
    rm -f "$s/pid" "$s/launcher"
    echo "peers.sh: $name halted (folder kept)" >&2
}

# Starts the broker again on the folder and port of its last start.
restart_broker() {
    local name=$1; shift
    local timeout=$default_timeout s=$state_root/$name
    while [ $# -gt 0 ]; do
        case "$1" in
            --timeout) timeout=$2; shift 2 ;;
            *) die "restart: unknown argument '$1'" ;;
        esac
    done
    [ -e "$s/dir" ] || die "$name was not started by peers.sh (nothing to restart)"
    [ -e "$s/pid" ] && halt_broker "$name"
    local d port; d=$(cat "$s/dir"); port=$(cat "$s/port")
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local launcher; launcher=$("${name}_launch" "$d")
    echo "$launcher" > "$s/launcher"
    local rc=0 started=$SECONDS
    wait_for_port "$port" "$timeout" "$launcher" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "peers.sh: $name did not accept again on 127.0.0.1:$port; last lines of $d/console.log:" >&2
        tail -n 20 "$d/console.log" >&2 || true
        die "$name failed to restart"
    fi
    local pid; pid=$(find_in_tree "$launcher" "$(broker_process_name "$name")") || pid=$launcher
    echo "$pid" > "$s/pid"
    local pkg; pkg=$(package_of "$name")
    printf '%s\n' "name=$name" "pid=$pid" "stomp=127.0.0.1:$port" \
        "version=$(package_version "$pkg")" "dir=$d" "startup_seconds=$((SECONDS - started))"
}

status_broker() {
    local name=$1 s=$state_root/$1
    if [ -e "$s/pid" ] && kill -0 "$(cat "$s/pid")" 2>/dev/null; then
        printf '%s\n' "name=$name" "state=running" "pid=$(cat "$s/pid")" \
            "stomp=127.0.0.1:$(cat "$s/port")" "dir=$(cat "$s/dir")"
    else
        printf '%s\n' "name=$name" "state=stopped"
        return 3
    fi
}

names_of() { case "${1:-all}" in all) echo rabbitmq activemq ;; *) package_of "$1" >/dev/null; echo "$1" ;; esac; }

cmd=${1:-}; shift || true
case "$cmd" in
    install) for n in $(names_of "${1:-all}"); do install_broker "$n"; done ;;
    start) [ $# -ge 1 ] || die "start needs a broker name"; n=$1; shift; package_of "$n" >/dev/null; start_broker "$n" "$@" ;;
    stop) [ $# -ge 1 ] || die "stop needs a broker name (or all)"; for n in $(names_of "$1"); do stop_broker "$n"; done ;;
    kill) [ $# -ge 1 ] || die "kill needs a broker name"; package_of "$1" >/dev/null; kill_broker "$1" ;;
    halt) [ $# -ge 1 ] || die "halt needs a broker name"; package_of "$1" >/dev/null; halt_broker "$1" ;;
    restart) [ $# -ge 1 ] || die "restart needs a broker name"; n=$1; shift; package_of "$n" >/dev/null; restart_broker "$n" "$@" ;;
    status) rc=0; for n in $(names_of "${1:-all}"); do status_broker "$n" || rc=$?; done; exit "$rc" ;;
    -h|--help|"") sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (install, start, stop, status, kill, halt, restart)" ;;
esac
