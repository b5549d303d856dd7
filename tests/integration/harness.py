"""Integration-test harness: an independent client of a Ledgerline node.

Everything here is written from docs/API.md (the wire contract), never from
the server's code. The test files and bench scripts import harness (as H);
this module is the index and re-exports every name of the modules beside it,
one job each:

* signing.py   -- the chain's constants; Key (Ed25519 keys, PyNaCl), chain
                  addresses and the canonical signing bytes of API.md §2,
                  byte for byte (sign, tx_id_of, *_body, transfer); the
                  header rule of blocks (check_block).
* process.py   -- Server: starts `ledgerline serve` on a free 127.0.0.1 port
                  with a temporary data directory, waits until GET /healthz
                  answers, stops it with SIGTERM (and checks the exit code
                  and that the sanitizers stayed silent), or kills it with
                  SIGKILL for crash tests; restarts it on the same data
                  directory. Also ManagedProcess, end_process, wait_healthz,
                  child_env, run_cli, the shared set of live processes
                  (_live), the requests session, error-shape assertions,
                  wait_until and timeout (@timeout(N), a test's own time
                  limit).
* rawhttp.py   -- RawHttp: a raw-socket HTTP/1.1 client for the
                  protocol-level tests; http_request.
* streams.py   -- sessions (register_user, login, send_message), labelled
                  metrics (server_metric), VmRSS (rss_kib, RssSampler);
                  RawWebSocket and ws_frame for hand-made frames; WsReader
                  (python3-websockets on a LoopThread) and SseStream (raw
                  socket, reader thread) that collect what a stream sends and
                  wait on it with deadlines.
* envelopes.py -- check_*_envelope for the event shapes of API.md §5, and
                  which events an address filter passes.

Names are re-exported, not copied: _live is process._live. To replace a
function the modules call (mock.patch.object), patch it in its own module
(process.free_port), not here.

The tests run under pytest; conftest.py gives them the shared node of their
file (fresh again after a failed test) and enforces the time limits.

Rules kept here so that the test files need not repeat them: no sleeps for
ordering (poll an observable state with a deadline), every request has a
timeout, every process started is stopped by its pid in a finally block.
"""

import shutil  # noqa: F401  (H.shutil)

import requests  # noqa: F401  (H.requests)

import envelopes
import process
import rawhttp
import signing
import streams
from envelopes import (  # noqa: F401
    ENVELOPE_BLOCK_KEYS, ENVELOPE_MSG_KEYS, ENVELOPE_TX_KEYS, check_block_envelope,
    check_msg_envelope, check_tx_envelope, coins, envelope_involves, envelope_tx_id,
    same_amount)
from process import (  # noqa: F401
    HTTP_TIMEOUT_S, REPO_ROOT, SANITIZER_MARKERS, START_DEADLINE_S, STOP_DEADLINE_S,
    ManagedProcess, Server, TestTimeout, _die_with_parent, _ExitedEarly, _kill_leftovers, _libc,
    _live, _Session, assert_accepted, assert_error, binary_path, child_env, end_process,
    error_of, free_port, kill_process, new_session, parse_metrics, read_log, require_binary,
    run_cli, sanitizer_findings, timeout, wait_healthz, wait_until)
from rawhttp import PeerClosed, RawHttp, RawResponse, http_request  # noqa: F401
from signing import (  # noqa: F401
    EXT_BLOCK_FIELDS, FAUCET_DEFAULT, FAUCET_MAX, GENESIS_SUPPLY, HEX_RE, INT64_MAX,
    NATIVE_ASSET, SEED_BLOCK_FIELDS, UNITS_PER_COIN, ZERO_HASH, Key, SigningKey, VerifyKey,
    address_of_pubkey, call_body, canonical, check_block, create_body, deploy_body, header_hash,
    is_hex, message_body,
    now_ms, random_address, sign, sign_exact, transfer, transfer_body, tx_id_of, tx_root_of,
    verify_signed, vm_address)
from streams import (  # noqa: F401
    WS_GUID, LoopThread, RawStream, RawWebSocket, RssSampler, SseEvent, SseStream,
    WsClosedWithoutCloseFrame, WsReader, _LABEL_RE, _mask_fast, _SAMPLE_RE, _Waiting, login,
    metric_sum, parse_metric_samples, register_user, rss_kib, send_message, server_metric,
    user_session, ws_accept_of, ws_frame, ws_upgrade_request)
