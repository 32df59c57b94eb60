#!/usr/bin/env bash
# The ollama binary the fake pkg / go build install. `serve` simulates a server whose
# answers the fake curl reports, driven by STUB_SERVE_MODE (ok | never | die).
# shellcheck source=tests/ollama/termux/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
record "ollama $* [OLLAMA_VULKAN=${OLLAMA_VULKAN:-}]"
case ${1:-} in
    --version | -v) echo "ollama version is $FAKE_OLLAMA_VERSION" ;;
    serve)
        echo "$$" >>"$STUB_STATE/server_pids"
        case ${STUB_SERVE_MODE:-ok} in
            die)
                echo "Error: listen tcp 127.0.0.1:11434: bind: address already in use" >&2
                exit 1
                ;;
            never) echo "loading (this fake never answers)" ;;
            *)
                echo "$$ $FAKE_OLLAMA_VERSION" >"$STUB_STATE/server"
                echo "Listening on 127.0.0.1:11434 (version $FAKE_OLLAMA_VERSION)"
                ;;
        esac
        trap 'rm -f "$STUB_STATE/server"; exit 0' TERM INT
        # Never outlive a crashed test run by long.
        for ((i = 0; i < 600; i++)); do sleep 0.2; done
        rm -f "$STUB_STATE/server"
        ;;
    *) echo "fake ollama: $*" ;;
esac
