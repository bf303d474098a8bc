#!/usr/bin/env bash
# Writes a seed corpus for one fuzz target into OUT_DIR: the hand-written seeds in
# fuzz/seeds/TARGET, plus, when FIXTURES_DIR is given and exists, inputs made from the
# recorded provider payloads there (../shared/fixtures in this project's layout), each given
# the header its target's input format starts with (see the comment atop each target).
# Nothing is written inside the repository unless OUT_DIR is.
#
#   fuzz/seed-corpus.sh TARGET OUT_DIR [FIXTURES_DIR]
#   fuzz/seed-corpus.sh stream_decoders fuzz/corpus/stream_decoders ../shared/fixtures
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 TARGET OUT_DIR [FIXTURES_DIR]" >&2
    exit 2
fi
target="$1"
out="$2"
fixtures="${3:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"

if [[ -d "$here/seeds/$target" ]]; then
    cp "$here/seeds/$target"/* "$out"/ 2>/dev/null || true
fi
if [[ -z "$fixtures" || ! -d "$fixtures" ]]; then
    echo "seed-corpus: $target: $(find "$out" -type f | wc -l) hand-written seeds in $out (no fixtures directory${fixtures:+ at $fixtures})"
    exit 0
fi

# The split header of tollgate_fuzz::split: 3 read sizes (1, 7, 64 bytes) used in turn.
split_header='\x03\x01\x07\x40'

# Stream bodies: SSE, NDJSON, and binary event streams (stored base64).
stream_files() {
    find "$fixtures" -type f \( -name '*.sse' -o -name '*.ndjson' -o -name '*.b64' \) \
        ! -name '*.decoded.ndjson' | sort
}
stream_body() {
    case "$1" in
        *.b64) base64 -d "$1" 2>/dev/null || true ;;
        *) cat "$1" ;;
    esac
}
seed_name() {
    local rel="${1#"$fixtures"/}"
    printf '%s' "fx-${rel//\//_}"
}

n=0
case "$target" in
    sse_decoder)
        while IFS= read -r f; do
            { printf "$split_header"; stream_body "$f"; } >"$out/$(seed_name "$f")"
            n=$((n + 1))
        done < <(stream_files)
        ;;
    stream_decoders | responses_stream | messages_bridge)
        # Byte 0 picks the provider (mod the length of tollgate_fuzz::MODELS): every stream
        # body goes to every provider, so each decoder also meets the others' formats.
        providers="$(awk '/pub const MODELS/,/^\];/' "$here/src/lib.rs" | grep -c '^ *"')"
        while IFS= read -r f; do
            for ((p = 0; p < providers; p++)); do
                { printf "\\x$(printf %02x "$p")$split_header"; stream_body "$f"; } \
                    >"$out/$(seed_name "$f")-p$p"
                n=$((n + 1))
            done
        done < <(stream_files)
        ;;
    json_splice)
        # Whole response bodies, and the JSON of every stream event (what the proxy splices).
        while IFS= read -r f; do
            cp "$f" "$out/$(seed_name "$f")"
            n=$((n + 1))
        done < <(find "$fixtures" -type f -name '*.json' ! -name '*.request.json' | sort)
        while IFS= read -r f; do
            base="$out/$(seed_name "$f")"
            # At most 40 events a file: the rest of a stream is more of the same. One awk, not
            # grep | head: head leaving early hands grep a SIGPIPE, which pipefail made fatal.
            awk '/^data:/ && n++ < 40 { sub(/^data: ?/, ""); print }' "$f" | {
                i=0
                while IFS= read -r line; do
                    printf '%s' "$line" >"$base-$i"
                    i=$((i + 1))
                done
            }
            n=$((n + 1))
        done < <(find "$fixtures" -type f -name '*.sse' | sort)
        ;;
    response_parsers)
        # Header: status - 100 as a big-endian u16 (from an `error_NNN` name, else 200), then
        # 0 for no retry-after header.
        while IFS= read -r f; do
            status=200
            if [[ "$(basename "$f")" =~ ^error_([0-9]{3}) ]]; then
                status="${BASH_REMATCH[1]}"
            fi
            code=$((status - 100))
            { printf "\\x$(printf %02x $((code >> 8)))\\x$(printf %02x $((code & 255)))\\x00"
              cat "$f"; } >"$out/$(seed_name "$f")"
            n=$((n + 1))
        done < <(find "$fixtures" -type f -name '*.json' ! -name '*.request.json' | sort)
        ;;
    usage_scan)
        # Byte 0 picks the format the scanner expects: 0 JSON, 1 SSE, 2 AWS event stream.
        while IFS= read -r f; do
            case "$f" in
                *.b64) format='\x02' ;;
                *) format='\x01' ;;
            esac
            { printf "$format$split_header"; stream_body "$f"; } >"$out/$(seed_name "$f")"
            n=$((n + 1))
        done < <(stream_files)
        while IFS= read -r f; do
            { printf "\x00$split_header"; cat "$f"; } >"$out/$(seed_name "$f")"
            n=$((n + 1))
        done < <(find "$fixtures" -type f -name '*.json' ! -name '*.request.json' | sort)
        ;;
    *)
        echo "$0: unknown target $target" >&2
        exit 2
        ;;
esac
echo "seed-corpus: $target: $(find "$out" -type f | wc -l) seeds in $out ($n from fixtures)"
