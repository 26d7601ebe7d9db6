#!/usr/bin/env bash
# Deploy budgetkg on Virtuoso: start a Virtuoso, fill it, start `budgetkg serve` in front of it.
# Run with --help for the options. docs/scale.md ("Which store, when") explains when to use it.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/deploy-virtuoso.sh --data DIR [options]
       scripts/deploy-virtuoso.sh --data DIR --stop

Starts virtuoso-t with a generated ini (its database in DIR), fills it with budgetkg's graphs, and starts
`budgetkg serve --store http://HOST:HTTP_PORT/sparql` in front of it, both in the background (pid files,
logs and the ini in DIR). Idempotent: a server already running from DIR is reused, a store already filled is
not filled again (unless --reload), so running it twice changes nothing.

Options:
  --data DIR          Virtuoso's database, the ini, logs and pid files (created if missing). Required.
  --host HOST         address both servers listen on (default 127.0.0.1)
  --sql-port N        Virtuoso's SQL port, for isql-vt (default 1111)
  --http-port N       Virtuoso's HTTP port: /sparql, /sparql-auth, /sparql-graph-crud-auth (default 8890)
  --serve-port N      budgetkg serve's port (default 8000)
  --manifest FILE     build this manifest's documents with `budgetkg build` (default: the bundled seeds)
  --dump FILE.nq      load this N-Quads dump (`budgetkg export`) with Virtuoso's bulk loader instead
  --reload            fill the store again even if it was filled before
  --no-serve          start and fill Virtuoso only
  --stop              stop the budgetkg server and Virtuoso started from DIR, and exit
  -h, --help          this text

Environment:
  VIRTUOSO_DBA_PASSWORD  the dba password (required). A new database's default password (dba) is changed
                         to it at the first start; budgetkg writes with it (digest auth).
  BUDGETKG               the budgetkg command (default: budgetkg), e.g. "python -m budgetkg"
  VIRTUOSO_BUFFERS       Virtuoso's NumberOfBuffers, 8 KiB each (default 170000, about 1.3 GiB: give it
                         about 2/3 of the machine's RAM, see bench/virtuoso-bench.ini)
  BUDGETKG_QUERY_TIMEOUT and the other BUDGETKG_* settings reach budgetkg serve as usual.

Exit status: 0 done, 2 usage error, 1 anything else (the message says what, and which log to read).
EOF
}

die() { echo "deploy-virtuoso: error: $*" >&2; exit 1; }
usage_error() { echo "deploy-virtuoso: $*" >&2; echo "Try --help." >&2; exit 2; }

DATA="" HOST=127.0.0.1 SQL_PORT=1111 HTTP_PORT=8890 SERVE_PORT=8000 MANIFEST="" DUMP="" RELOAD=0 SERVE=1 STOP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --data) DATA="${2:-}"; shift ;;
        --host) HOST="${2:-}"; shift ;;
        --sql-port) SQL_PORT="${2:-}"; shift ;;
        --http-port) HTTP_PORT="${2:-}"; shift ;;
        --serve-port) SERVE_PORT="${2:-}"; shift ;;
        --manifest) MANIFEST="${2:-}"; shift ;;
        --dump) DUMP="${2:-}"; shift ;;
        --reload) RELOAD=1 ;;
        --no-serve) SERVE=0 ;;
        --stop) STOP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage_error "unknown option: $1" ;;
    esac
    shift
done
[ -n "$DATA" ] || usage_error "--data DIR is required"
for n in "$SQL_PORT" "$HTTP_PORT" "$SERVE_PORT"; do
    [[ "$n" =~ ^[0-9]+$ ]] || usage_error "a port must be a number, not '$n'"
done
[ -z "$MANIFEST" ] || [ -f "$MANIFEST" ] || usage_error "no manifest at $MANIFEST"
[ -z "$DUMP" ] || [ -f "$DUMP" ] || usage_error "no dump at $DUMP"
[ -z "$MANIFEST" ] || [ -z "$DUMP" ] || usage_error "give --manifest or --dump, not both"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"
VIRTUOSO_PID="$DATA/virtuoso-t.pid" SERVE_PID="$DATA/budgetkg-serve.pid" FILLED="$DATA/budgetkg-filled"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {  # stop the process of a pid file, politely, then for good
    local file="$1" pid
    if alive "$file"; then
        pid="$(cat "$file")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

if [ "$STOP" = 1 ]; then
    stop_pid "$SERVE_PID"
    stop_pid "$VIRTUOSO_PID"
    echo "deploy-virtuoso: stopped what was started from $DATA"
    exit 0
fi

[ -n "${VIRTUOSO_DBA_PASSWORD:-}" ] || usage_error "set VIRTUOSO_DBA_PASSWORD (the dba password)"
[[ "$VIRTUOSO_DBA_PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]] \
    || usage_error "VIRTUOSO_DBA_PASSWORD may hold letters, digits and . _ ~ - only"
command -v virtuoso-t >/dev/null || die "virtuoso-t is missing: run scripts/setup-virtuoso.sh (as root)"
command -v isql-vt >/dev/null || die "isql-vt is missing: run scripts/setup-virtuoso.sh (as root)"
command -v curl >/dev/null || die "curl is missing"
read -r -a BK <<< "${BUDGETKG:-budgetkg}"
command -v "${BK[0]}" >/dev/null || die "${BK[0]} is missing: install budgetkg, or set BUDGETKG"

URL="http://$HOST:$HTTP_PORT"
answers() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# -- Virtuoso ---------------------------------------------------------------------------------------
if alive "$VIRTUOSO_PID"; then
    echo "deploy-virtuoso: Virtuoso already running from $DATA (pid $(cat "$VIRTUOSO_PID"))"
else
    if answers "$URL/sparql?query=ASK%7B%7D"; then
        die "something else already answers at $URL: choose another --http-port"
    fi
    cat > "$DATA/virtuoso.ini" <<EOF
; written by scripts/deploy-virtuoso.sh; edit the script's options, not this file
[Database]
DatabaseFile       = $DATA/virtuoso.db
ErrorLogFile       = $DATA/virtuoso.log
LockFile           = $DATA/virtuoso.lck
TransactionFile    = $DATA/virtuoso.trx
xa_persistent_file = $DATA/virtuoso.pxa
ErrorLogLevel      = 7
FileExtend         = 200
MaxCheckpointRemap = 2000
Striping           = 0
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile       = $DATA/virtuoso-temp.db
TransactionFile    = $DATA/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping           = 0

[Parameters]
ServerPort               = $HOST:$SQL_PORT
LiteMode                 = 0
DisableUnixSocket        = 1
DisableTcpSocket         = 0
MaxClientConnections     = 20
CheckpointInterval       = 60
O_DIRECT                 = 0
CaseMode                 = 2
MaxStaticCursorRows      = 5000
CheckpointAuditTrail     = 0
AllowOSCalls             = 0
SchedulerInterval        = 10
DirsAllowed              = ., $DATA
ThreadCleanupInterval    = 0
ThreadThreshold          = 10
ResourcesCleanupInterval = 0
FreeTextBatchSize        = 100000
SingleCPU                = 0
PrefixResultNames        = 0
RdfFreeTextRulesSize     = 100
IndexTreeMaps            = 64
MaxQueryMem              = 2G
VectorSize               = 1000
MaxVectorSize            = 1000000
AdjustVectorSize         = 0
ThreadsPerQuery          = 2
AsyncQueueMaxThreads     = 10
NumberOfBuffers          = ${VIRTUOSO_BUFFERS:-170000}
MaxDirtyBuffers          = $(( ${VIRTUOSO_BUFFERS:-170000} * 3 / 4 ))

[HTTPServer]
ServerPort                = $HOST:$HTTP_PORT
ServerRoot                = $DATA
MaxClientConnections      = 20
DavRoot                   = DAV
EnabledDavVSP             = 0
HTTPProxyEnabled          = 0
TempASPXDir               = 0
ServerThreads             = 20
MaxKeepAlives             = 20
KeepAliveTimeout          = 10
HTTPThreadSize            = 280000
HttpPrintWarningsInOutput = 0
Charset                   = UTF-8
EnabledGzipContent        = 0

[Client]
SQL_PREFETCH_ROWS  = 100
SQL_PREFETCH_BYTES = 16000
SQL_QUERY_TIMEOUT  = 0
SQL_TXN_TIMEOUT    = 0

[SPARQL]
; budgetkg fails on a cut answer (X-SPARQL-MaxRows) rather than count less: keep this above your largest answer
ResultSetMaxRows           = 10000000
MaxSortedTopRows           = 10000000
MaxQueryCostEstimationTime = 0
; seconds: stop a query budgetkg serve has given up on (its BUDGETKG_QUERY_TIMEOUT)
MaxQueryExecutionTime      = 300
MaxConstructTriples        = 10000000
DeferInferenceRulesInit    = 0
EOF
    first=0
    [ -f "$DATA/virtuoso.db" ] || first=1
    ( cd "$DATA" || exit 1
      nohup virtuoso-t -f -c "$DATA/virtuoso.ini" > "$DATA/virtuoso-stdout.log" 2>&1 < /dev/null &
      echo $! > "$VIRTUOSO_PID" )
    for _ in $(seq 1 300); do
        answers "$URL/sparql?query=ASK%7B%7D" && break
        alive "$VIRTUOSO_PID" || die "virtuoso-t exited; see $DATA/virtuoso.log and $DATA/virtuoso-stdout.log"
        sleep 0.2
    done
    answers "$URL/sparql?query=ASK%7B%7D" || die "Virtuoso did not answer at $URL within 60 s; see $DATA/virtuoso.log"
    if [ "$first" = 1 ]; then
        isql-vt "$HOST:$SQL_PORT" dba dba "EXEC=USER_SET_PASSWORD('dba', '$VIRTUOSO_DBA_PASSWORD');" \
            > "$DATA/isql.log" 2>&1 || die "could not set the dba password; see $DATA/isql.log"
    fi
    echo "deploy-virtuoso: Virtuoso running at $URL/sparql (pid $(cat "$VIRTUOSO_PID"), data in $DATA)"
fi
isql-vt "$HOST:$SQL_PORT" dba "$VIRTUOSO_DBA_PASSWORD" "EXEC=SELECT 1;" > "$DATA/isql.log" 2>&1 \
    || die "isql-vt could not log in as dba at $HOST:$SQL_PORT: is VIRTUOSO_DBA_PASSWORD this database's password?"

# -- the data -----------------------------------------------------------------------------------
if [ -f "$FILLED" ] && [ "$RELOAD" = 0 ]; then
    echo "deploy-virtuoso: the store was filled before ($(cat "$FILLED")); --reload fills it again"
elif [ -n "$DUMP" ]; then
    dir="$DATA/load"
    rm -rf "$dir" && mkdir -p "$dir" && cp "$DUMP" "$dir/dump.nq"
    isql-vt "$HOST:$SQL_PORT" dba "$VIRTUOSO_DBA_PASSWORD" \
        "EXEC=DELETE FROM DB.DBA.LOAD_LIST WHERE ll_file LIKE '$dir/%';" \
        "EXEC=ld_dir('$dir', '*.nq', 'urn:budgetkg:unused');" "EXEC=rdf_loader_run();" "EXEC=checkpoint;" \
        "EXEC=SELECT COUNT(*) FROM DB.DBA.LOAD_LIST WHERE ll_file LIKE '$dir/%' AND (ll_state <> 2 OR ll_error IS NOT NULL);" \
        > "$DATA/load.log" 2>&1 || die "the bulk load failed; see $DATA/load.log"
    grep -qE '^0[[:space:]]*$' "$DATA/load.log" || die "the bulk loader refused the dump; see $DATA/load.log"
    rm -rf "$dir"
    echo "dump $DUMP" > "$FILLED"
    echo "deploy-virtuoso: loaded $DUMP"
else
    export BUDGETKG_QUERY_URL="$URL/sparql-auth" BUDGETKG_UPDATE_URL="$URL/sparql-auth"
    export BUDGETKG_GSP_URL="$URL/sparql-graph-crud-auth" BUDGETKG_STORE_AUTH=digest BUDGETKG_STORE_USER=dba
    export BUDGETKG_STORE_PASSWORD="$VIRTUOSO_DBA_PASSWORD"
    args=(build --quiet)
    [ -z "$MANIFEST" ] || args+=(--manifest "$MANIFEST")
    "${BK[@]}" "${args[@]}" || die "budgetkg build into $URL failed (above)"
    unset BUDGETKG_QUERY_URL BUDGETKG_UPDATE_URL BUDGETKG_GSP_URL BUDGETKG_STORE_AUTH BUDGETKG_STORE_USER \
        BUDGETKG_STORE_PASSWORD
    echo "manifest ${MANIFEST:-(the bundled seeds)}" > "$FILLED"
    echo "deploy-virtuoso: built ${MANIFEST:-the bundled seeds} into $URL"
fi

# -- budgetkg serve in front --------------------------------------------------------------------
[ "$SERVE" = 1 ] || exit 0
if alive "$SERVE_PID"; then
    echo "deploy-virtuoso: budgetkg serve already running (pid $(cat "$SERVE_PID"))"
else
    if answers "http://$HOST:$SERVE_PORT/health"; then
        die "something else already answers at http://$HOST:$SERVE_PORT: choose another --serve-port"
    fi
    # the anonymous /sparql is enough to read: the server in front never writes
    env -u BUDGETKG_QUERY_URL -u BUDGETKG_UPDATE_URL -u BUDGETKG_GSP_URL \
        nohup "${BK[@]}" serve --store "$URL/sparql" --host "$HOST" --port "$SERVE_PORT" \
        > "$DATA/budgetkg-serve.log" 2>&1 < /dev/null &
    echo $! > "$SERVE_PID"
    for _ in $(seq 1 300); do
        answers "http://$HOST:$SERVE_PORT/health" && break
        alive "$SERVE_PID" || die "budgetkg serve exited; see $DATA/budgetkg-serve.log"
        sleep 0.2
    done
    answers "http://$HOST:$SERVE_PORT/health" || die "budgetkg serve did not answer within 60 s; see $DATA/budgetkg-serve.log"
fi
echo "deploy-virtuoso: budgetkg serving $URL/sparql at http://$HOST:$SERVE_PORT/ (stop both: $0 --data $DATA --stop)"
