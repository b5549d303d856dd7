/* tests/unit/test_stream_event.c: one event, encoded once per wire format,
 * through event.h: the SSE bytes, the RFC 6455 §5.2 text frames (each length
 * encoding at its boundary), the events frame with its id (ids=1), the
 * seed's valid_tx shapes, the addresses (as the ledger hands them over and
 * as a row of the log holds them), the type table, raw bytes, and the
 * atomic reference count shared by several threads
 * (ASan reports a double free or a leak, so "exactly one free" is checked
 * there). */
#include "stream/event.h"

#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "testutil.h"

#define TXID "abc1230000000000000000000000000000000000000000000000000000000000"
#define ASSET "0000000000000000000000000000000000000000000000000000000000000001"
#define BHASH "0000ab1200000000000000000000000000000000000000000000000000000000"
#define ALICE "34378b1ba5be9d0999acd60be3a8a1f1"
#define BOB "39848b50aaaaaaaaaaaaaaaaaaaaaaaa"
#define CAROL "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
#define DAVE "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"

static ll_event_t *tx_event(uint64_t seq, const char *payload)
{
    ll_event_desc_t d = {.seq = seq, .type = LL_EV_TX, .payload = payload};
    ll_event_desc_add_address(&d, ALICE, strlen(ALICE));
    ll_event_desc_add_address(&d, BOB, strlen(BOB));
    return ll_event_new(&d);
}

/* A JSON envelope of exactly len bytes: {"type":"tx","pad":"<filler>"}. */
static char *payload_of_len(size_t len)
{
    static const char head[] = "{\"type\":\"tx\",\"pad\":\"";
    size_t h = sizeof head - 1;
    assert_true(len >= h + 2);
    char *p = malloc(len + 1);
    assert_non_null(p);
    memcpy(p, head, h);
    memset(p + h, 'x', len - h - 2);
    memcpy(p + len - 2, "\"}", 2);
    p[len] = '\0';
    return p;
}

/* Checks bytes are one unmasked FIN text frame carrying exactly payload. */
static void assert_text_frame(const char *bytes, size_t len, const char *payload, size_t plen,
                              size_t expect_hdr)
{
    const uint8_t *b = (const uint8_t *)bytes;
    assert_non_null(bytes);
    assert_int_equal(len, expect_hdr + plen);
    assert_int_equal(b[0], 0x81);     /* FIN, RSV 0, opcode text */
    assert_int_equal(b[1] & 0x80, 0); /* servers never mask (§5.1) */
    uint64_t got;
    if (expect_hdr == 2) {
        got = b[1];
        assert_true(got <= 125);
    } else if (expect_hdr == 4) {
        assert_int_equal(b[1], 126);
        got = ((uint64_t)b[2] << 8) | b[3];
    } else {
        assert_int_equal(expect_hdr, 10);
        assert_int_equal(b[1], 127);
        assert_int_equal(b[2] & 0x80, 0); /* the most significant bit MUST be 0 */
        got = 0;
        for (int i = 0; i < 8; i++)
            got = (got << 8) | b[2 + i];
    }
    assert_int_equal(got, plen);
    assert_memory_equal(bytes + expect_hdr, payload, plen);
}

static void test_event_sse_bytes_are_id_then_data_then_blank_line(void **state)
{
    (void)state;
    const char *payload = "{\"type\":\"tx\",\"amount\":5}";
    ll_event_t *ev = tx_event(42, payload);
    assert_non_null(ev);
    const char *want = "id: 42\ndata: {\"type\":\"tx\",\"amount\":5}\n\n";
    assert_int_equal(ev->wire[LL_WIRE_SSE].len, strlen(want));
    assert_memory_equal(ev->wire[LL_WIRE_SSE].bytes, want, strlen(want));
    assert_int_equal(ev->seq, 42);
    assert_int_equal(ev->type, LL_EV_TX);
    assert_int_equal(ev->wire[LL_WIRE_RAW].len, 0);
    ll_event_unref(ev);
}

static void test_event_sse_id_holds_the_largest_seq(void **state)
{
    (void)state;
    ll_event_t *ev = tx_event(UINT64_MAX, "{}");
    assert_non_null(ev);
    const char *want = "id: 18446744073709551615\ndata: {}\n\n";
    assert_int_equal(ev->wire[LL_WIRE_SSE].len, strlen(want));
    assert_memory_equal(ev->wire[LL_WIRE_SSE].bytes, want, strlen(want));
    ll_event_unref(ev);
}

static void test_event_ws_frame_is_unmasked_text_with_the_payload(void **state)
{
    (void)state;
    const char *payload = "{\"type\":\"block\",\"height\":7}";
    ll_event_desc_t d = {.seq = 3, .type = LL_EV_BLOCK, .payload = payload};
    ll_event_t *ev = ll_event_new(&d);
    assert_non_null(ev);
    assert_int_equal(ev->type, LL_EV_BLOCK);
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS].bytes, ev->wire[LL_WIRE_WS_EVENTS].len, payload,
                      strlen(payload), 2);
    ll_event_unref(ev);
}

/* 125 is the largest 7-bit length, 126..65535 take 16 bits, 65536 and up 64. */
static void test_event_ws_frame_length_encoding_at_each_boundary(void **state)
{
    (void)state;
    static const struct {
        size_t len, hdr;
    } cases[] = {{24, 2}, {125, 2}, {126, 4}, {127, 4}, {65535, 4}, {65536, 10}, {70000, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *payload = payload_of_len(cases[i].len);
        ll_event_t *ev = tx_event(i + 1, payload);
        assert_non_null(ev);
        assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS].bytes, ev->wire[LL_WIRE_WS_EVENTS].len,
                          payload, cases[i].len, cases[i].hdr);
        /* The SSE encoding of the same event carries the same payload. */
        char head[64];
        int h = snprintf(head, sizeof head, "id: %zu\ndata: ", i + 1);
        assert_int_equal(ev->wire[LL_WIRE_SSE].len, (size_t)h + cases[i].len + 2);
        assert_memory_equal(ev->wire[LL_WIRE_SSE].bytes + h, payload, cases[i].len);
        ll_event_unref(ev);
        free(payload);
    }
}

static void test_event_valid_tx_frames_exist_only_with_a_tx_id(void **state)
{
    (void)state;
    ll_event_desc_t d = {.seq = 9, .type = LL_EV_TX, .payload = "{}"};
    ll_event_desc_add_address(&d, ALICE, strlen(ALICE));
    ll_event_t *ev = ll_event_new(&d);
    assert_non_null(ev);
    assert_int_equal(ev->wire[LL_WIRE_WS_VALID_TX].len, 0);
    assert_int_equal(ev->wire[LL_WIRE_WS_VALID_TXS].len, 0);
    assert_true(ev->wire[LL_WIRE_WS_EVENTS].len > 0);
    ll_event_unref(ev);
}

/* Parses one frame's payload as a JSON object. */
static json_t *frame_json(const ll_event_t *ev, ll_wire_t w)
{
    const uint8_t *b = (const uint8_t *)ev->wire[w].bytes;
    size_t len = ev->wire[w].len;
    assert_non_null(b);
    assert_true(len > 2);
    assert_int_equal(b[0], 0x81);
    size_t hdr = b[1] < 126 ? 2 : b[1] == 126 ? 4 : 10;
    json_error_t err;
    json_t *j = json_loadb((const char *)b + hdr, len - hdr, 0, &err);
    assert_non_null(j);
    assert_true(json_is_object(j));
    return j;
}

static void test_event_valid_tx_shapes_hold_exactly_their_three_keys(void **state)
{
    (void)state;
    ll_event_desc_t d = {.seq = 10,
                         .type = LL_EV_TX,
                         .payload = "{\"type\":\"tx\"}",
                         .tx_id = TXID,
                         .asset_id = ASSET,
                         .block_hash = BHASH,
                         .height = 1042};
    ll_event_desc_add_address(&d, ALICE, strlen(ALICE));
    ll_event_desc_add_address(&d, BOB, strlen(BOB));
    ll_event_t *ev = ll_event_new(&d);
    assert_non_null(ev);

    json_t *a = frame_json(ev, LL_WIRE_WS_VALID_TX);
    assert_int_equal(json_object_size(a), 3);
    assert_json_str(a, "txid", TXID);
    assert_json_str(a, "assetid", ASSET);
    assert_json_str(a, "blockid", BHASH);
    json_decref(a);

    json_t *b = frame_json(ev, LL_WIRE_WS_VALID_TXS);
    assert_int_equal(json_object_size(b), 3);
    assert_json_str(b, "transaction_id", TXID);
    assert_json_str(b, "asset_id", ASSET);
    json_t *h = json_object_get(b, "block_height");
    assert_true(json_is_integer(h));
    assert_int_equal(json_integer_value(h), 1042);
    json_decref(b);

    /* The envelope formats are unchanged by the extra shapes. */
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS].bytes, ev->wire[LL_WIRE_WS_EVENTS].len,
                      "{\"type\":\"tx\"}", 13, 2);
    ll_event_unref(ev);
}

/* ---- the events frame with ids (ids=1) -------------------------------------- */

static void test_event_ids_frame_puts_the_id_first_into_the_envelope(void **state)
{
    (void)state;
    const char *payload = "{\"type\":\"tx\",\"tx\":{\"amount\":5}}";
    ll_event_t *ev = tx_event(42, payload);
    assert_non_null(ev);
    const char *want = "{\"id\":42,\"type\":\"tx\",\"tx\":{\"amount\":5}}";
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS_IDS].bytes, ev->wire[LL_WIRE_WS_EVENTS_IDS].len,
                      want, strlen(want), 2);
    /* The frame without ids stays the envelope, byte for byte. */
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS].bytes, ev->wire[LL_WIRE_WS_EVENTS].len, payload,
                      strlen(payload), 2);
    json_t *j = frame_json(ev, LL_WIRE_WS_EVENTS_IDS);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 42);
    assert_json_str(j, "type", "tx");
    json_decref(j);
    ll_event_unref(ev);
}

static void test_event_ids_frame_of_an_empty_object_and_of_the_largest_seq(void **state)
{
    (void)state;
    ll_event_t *ev = tx_event(7, "{}");
    assert_non_null(ev);
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS_IDS].bytes, ev->wire[LL_WIRE_WS_EVENTS_IDS].len,
                      "{\"id\":7}", 8, 2);
    ll_event_unref(ev);

    ev = tx_event(8, "{ }");
    assert_non_null(ev);
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS_IDS].bytes, ev->wire[LL_WIRE_WS_EVENTS_IDS].len,
                      "{\"id\":8 }", 9, 2);
    ll_event_unref(ev);

    ev = tx_event(UINT64_MAX, "{\"type\":\"tx\"}");
    assert_non_null(ev);
    const char *want = "{\"id\":18446744073709551615,\"type\":\"tx\"}";
    assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS_IDS].bytes, ev->wire[LL_WIRE_WS_EVENTS_IDS].len,
                      want, strlen(want), 2);
    ll_event_unref(ev);
}

/* Seq 0 is no position in the log, and a payload that is not an object has
 * no place for an id: neither gets the frame, and a subscriber reading it
 * is not offered the event (its length is 0). */
static void test_event_ids_frame_needs_a_seq_and_an_object(void **state)
{
    (void)state;
    ll_event_t *ev = tx_event(0, "{\"type\":\"tx\"}");
    assert_non_null(ev);
    assert_int_equal(ev->wire[LL_WIRE_WS_EVENTS_IDS].len, 0);
    assert_true(ev->wire[LL_WIRE_WS_EVENTS].len > 0);
    ll_event_unref(ev);

    ev = tx_event(3, "[1]");
    assert_non_null(ev);
    assert_int_equal(ev->wire[LL_WIRE_WS_EVENTS_IDS].len, 0);
    ll_event_unref(ev);
}

/* The id's bytes can push a frame over a length boundary: the header is
 * that of the frame's own length. */
static void test_event_ids_frame_length_encoding_at_each_boundary(void **state)
{
    (void)state;
    static const struct {
        size_t len, hdr;
    } cases[] = {{116, 2}, {117, 4}, {65526, 4}, {65527, 10}, {70000, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* {"id":100, is 10 bytes, and replaces the payload's "{" */
        char *payload = payload_of_len(cases[i].len);
        ll_event_t *ev = tx_event(100, payload);
        assert_non_null(ev);
        size_t n = cases[i].len + 9;
        char *want = malloc(n + 1);
        assert_non_null(want);
        snprintf(want, n + 1, "{\"id\":100,%s", payload + 1);
        assert_text_frame(ev->wire[LL_WIRE_WS_EVENTS_IDS].bytes,
                          ev->wire[LL_WIRE_WS_EVENTS_IDS].len, want, n, cases[i].hdr);
        free(want);
        ll_event_unref(ev);
        free(payload);
    }
}

static void test_event_ids_frame_counts_as_the_events_stream(void **state)
{
    (void)state;
    assert_int_equal(ll_wire_stream(LL_WIRE_WS_EVENTS_IDS), LL_WIRE_WS_EVENTS);
    for (int w = 0; w < LL_WIRE_COUNT; w++)
        if (w != LL_WIRE_WS_EVENTS_IDS)
            assert_int_equal(ll_wire_stream((ll_wire_t)w), w);
}

/* An events-table addresses column, as history replay reads it back. */
static ll_event_t *event_with_column(const char *addresses)
{
    ll_event_desc_t d = {.seq = 1, .type = LL_EV_TX, .payload = "{}"};
    ll_event_desc_parse_addresses(&d, addresses);
    return ll_event_new(&d);
}

static void test_event_parses_up_to_three_addresses(void **state)
{
    (void)state;
    ll_event_t *ev = event_with_column(ALICE " " BOB);
    assert_non_null(ev);
    assert_int_equal(ev->naddr, 2);
    assert_string_equal(ev->addr[0], ALICE);
    assert_string_equal(ev->addr[1], BOB);
    ll_event_unref(ev);

    ev =
        event_with_column("  " ALICE "   " BOB " " CAROL " " DAVE " "); /* extra spaces, a fourth */
    assert_non_null(ev);
    assert_int_equal(ev->naddr, 3);
    assert_string_equal(ev->addr[0], ALICE);
    assert_string_equal(ev->addr[1], BOB);
    assert_string_equal(ev->addr[2], CAROL);
    ll_event_unref(ev);

    /* A 40-digit contract address fits. */
    ev = event_with_column("0123456789abcdef0123456789abcdef01234567");
    assert_non_null(ev);
    assert_int_equal(ev->naddr, 1);
    assert_string_equal(ev->addr[0], "0123456789abcdef0123456789abcdef01234567");
    ll_event_unref(ev);

    ev = event_with_column("");
    assert_non_null(ev);
    assert_int_equal(ev->naddr, 0);
    ll_event_unref(ev);

    ev = event_with_column(NULL);
    assert_non_null(ev);
    assert_int_equal(ev->naddr, 0);
    ll_event_unref(ev);
}

/* The ledger hands addresses over one by one, as they are. */
static void test_event_desc_add_address_keeps_three_that_a_filter_can_name(void **state)
{
    (void)state;
    ll_event_desc_t d = {.seq = 1, .type = LL_EV_TX, .payload = "{}"};
    ll_event_desc_add_address(&d, "", 0); /* a create's missing recipient */
    ll_event_desc_add_address(&d, ALICE, strlen(ALICE));
    ll_event_desc_add_address(&d, "0123456789abcdef0123456789abcdef012345678", 41); /* too long */
    ll_event_desc_add_address(&d, BOB " trailing", strlen(BOB));                    /* len bytes */
    ll_event_desc_add_address(&d, ALICE, strlen(ALICE)); /* a self-transfer names it twice */
    ll_event_desc_add_address(&d, CAROL, strlen(CAROL)); /* a fourth */
    assert_int_equal(d.naddr, 3);
    ll_event_t *ev = ll_event_new(&d);
    assert_non_null(ev);
    assert_int_equal(ev->naddr, 3);
    assert_string_equal(ev->addr[0], ALICE);
    assert_string_equal(ev->addr[1], BOB);
    assert_string_equal(ev->addr[2], ALICE);
    ll_event_unref(ev);
}

static void test_event_new_refuses_an_unknown_type(void **state)
{
    (void)state;
    ll_event_desc_t d = {.seq = 1, .type = ll_ev_type_parse("blocks", 6), .payload = "{}"};
    assert_null(ll_event_new(&d));
    d.type = ll_ev_type_parse("", 0);
    assert_null(ll_event_new(&d));
    d.type = ll_ev_type_parse("TX", 2);
    assert_null(ll_event_new(&d));
    d.type = LL_EV_TX | LL_EV_BLOCK; /* a mask, not one type */
    assert_null(ll_event_new(&d));
    d.type = LL_EV_TX;
    d.naddr = LL_EV_MAX_ADDRS + 1;
    assert_null(ll_event_new(&d));
}

static void test_event_type_parse_knows_each_name(void **state)
{
    (void)state;
    assert_int_equal(ll_ev_type_parse("block", 5), LL_EV_BLOCK);
    assert_int_equal(ll_ev_type_parse("tx", 2), LL_EV_TX);
    assert_int_equal(ll_ev_type_parse("message", 7), LL_EV_MESSAGE);
    assert_int_equal(ll_ev_type_parse("receipt", 7), LL_EV_RECEIPT);
    assert_int_equal(ll_ev_type_parse("txs", 2), LL_EV_TX); /* length-delimited */
    assert_int_equal(ll_ev_type_parse("txs", 3), 0);
    assert_int_equal(ll_ev_type_parse("bloc", 4), 0);
    assert_int_equal(ll_ev_type_parse("", 0), 0);

    const char *names[] = {"block", "tx", "message", "receipt"};
    for (size_t i = 0; i < 4; i++) {
        ll_event_desc_t d = {
            .seq = 1, .type = ll_ev_type_parse(names[i], strlen(names[i])), .payload = "{}"};
        ll_event_t *ev = ll_event_new(&d);
        assert_non_null(ev);
        assert_int_equal(ev->type, ll_ev_type_parse(names[i], strlen(names[i])));
        assert_string_equal(ll_ev_type_name(ev->type), names[i]);
        assert_int_equal(ll_ev_type_index(ev->type), (int)i);
        ll_event_unref(ev);
    }
}

static void test_event_type_name_and_index_take_exactly_one_type(void **state)
{
    (void)state;
    assert_int_equal(LL_EV_ALL, (1u << LL_EV_TYPE_COUNT) - 1);
    assert_null(ll_ev_type_name(0));
    assert_null(ll_ev_type_name(LL_EV_ALL));
    assert_null(ll_ev_type_name(1u << LL_EV_TYPE_COUNT));
    assert_int_equal(ll_ev_type_index(0), -1);
    assert_int_equal(ll_ev_type_index(LL_EV_BLOCK | LL_EV_RECEIPT), -1);
    assert_int_equal(ll_ev_type_index(LL_EV_RECEIPT), LL_EV_TYPE_COUNT - 1);
}

static void test_event_raw_copies_the_bytes(void **state)
{
    (void)state;
    char src[] = ": keep-alive\n\n";
    ll_event_t *ev = ll_event_raw(src, sizeof src - 1);
    assert_non_null(ev);
    memset(src, 'Z', sizeof src - 1);
    assert_int_equal(ev->wire[LL_WIRE_RAW].len, 14);
    assert_memory_equal(ev->wire[LL_WIRE_RAW].bytes, ": keep-alive\n\n", 14);
    assert_true(ev->wire[LL_WIRE_RAW].bytes != src);
    assert_int_equal(ev->seq, 0);
    for (int w = 0; w < LL_WIRE_RAW; w++)
        assert_int_equal(ev->wire[w].len, 0);
    ll_event_unref(ev);

    /* Binary bytes (a pong frame) too. */
    const uint8_t pong[] = {0x8A, 0x02, 0x00, 0xff};
    ev = ll_event_raw((const char *)pong, sizeof pong);
    assert_non_null(ev);
    assert_memory_equal(ev->wire[LL_WIRE_RAW].bytes, pong, sizeof pong);
    ll_event_unref(ev);
}

static void test_event_encodings_do_not_alias_the_descriptor(void **state)
{
    (void)state;
    char payload[] = "{\"type\":\"message\",\"text\":\"hi\"}";
    char addrs[] = ALICE;
    ll_event_desc_t d = {.seq = 5, .type = LL_EV_MESSAGE, .payload = payload};
    ll_event_desc_parse_addresses(&d, addrs);
    ll_event_t *ev = ll_event_new(&d);
    assert_non_null(ev);
    memset(payload, '#', sizeof payload - 1);
    memset(addrs, '#', sizeof addrs - 1);
    memset(d.addr, '#', sizeof d.addr);
    const char *want = "id: 5\ndata: {\"type\":\"message\",\"text\":\"hi\"}\n\n";
    assert_memory_equal(ev->wire[LL_WIRE_SSE].bytes, want, strlen(want));
    assert_string_equal(ev->addr[0], ALICE);
    ll_event_unref(ev);
}

/* ---- reference counting across threads ------------------------------------ */

#define REF_THREADS 8
#define REF_ROUNDS 20000

typedef struct ref_arg {
    ll_event_t *ev;
    ll_event_t **held; /* REF_ROUNDS slots */
} ref_arg_t;

static void ref_worker(void *p)
{
    ref_arg_t *a = p;
    /* Interleave single ref/unref pairs with a burst held then dropped. */
    for (int i = 0; i < REF_ROUNDS; i++)
        ll_event_unref(ll_event_ref(a->ev));
    for (int i = 0; i < REF_ROUNDS; i++)
        a->held[i] = ll_event_ref(a->ev);
    for (int i = 0; i < REF_ROUNDS; i++)
        ll_event_unref(a->held[i]);
}

static void test_event_refs_from_many_threads_end_in_one_free(void **state)
{
    (void)state;
    ll_event_t *ev = tx_event(1, "{\"type\":\"tx\"}");
    assert_non_null(ev);
    uv_thread_t th[REF_THREADS];
    ref_arg_t args[REF_THREADS];
    for (int i = 0; i < REF_THREADS; i++) {
        args[i].ev = ev;
        args[i].held = calloc(REF_ROUNDS, sizeof *args[i].held);
        assert_non_null(args[i].held);
        assert_int_equal(uv_thread_create(&th[i], ref_worker, &args[i]), 0);
    }
    for (int i = 0; i < REF_THREADS; i++) {
        assert_int_equal(uv_thread_join(&th[i]), 0);
        free(args[i].held);
    }
    assert_int_equal(atomic_load(&ev->refs), 1);
    ll_event_unref(ev); /* the only free: ASan reports a leak or a double free */
}

/* The last reference may be dropped on any thread, not the creator's. */
static void last_unref_worker(void *p)
{
    ll_event_unref(p);
}

static void test_event_last_unref_on_another_thread_frees_it(void **state)
{
    (void)state;
    ll_event_t *evs[REF_THREADS];
    uv_thread_t th[REF_THREADS];
    for (int i = 0; i < REF_THREADS; i++) {
        evs[i] = tx_event((uint64_t)i + 1, "{}");
        assert_non_null(evs[i]);
        ll_event_ref(evs[i]);
        assert_int_equal(uv_thread_create(&th[i], last_unref_worker, evs[i]), 0);
    }
    for (int i = 0; i < REF_THREADS; i++)
        ll_event_unref(evs[i]); /* races with the worker: one of the two frees */
    for (int i = 0; i < REF_THREADS; i++)
        assert_int_equal(uv_thread_join(&th[i]), 0);
}

/* ---- ll_ws_frame_header ----------------------------------------------------- */

static void test_ws_frame_header_encodes_opcode_and_each_length_form(void **state)
{
    (void)state;
    uint8_t h[10];

    assert_int_equal(ll_ws_frame_header(0x1, 0, h), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x00);

    assert_int_equal(ll_ws_frame_header(0x8, 2, h), 2); /* close with a status code */
    assert_int_equal(h[0], 0x88);
    assert_int_equal(h[1], 2);

    assert_int_equal(ll_ws_frame_header(0x9, 125, h), 2);
    assert_int_equal(h[0], 0x89);
    assert_int_equal(h[1], 125);

    assert_int_equal(ll_ws_frame_header(0xA, 126, h), 4);
    assert_int_equal(h[0], 0x8A);
    const uint8_t l126[] = {126, 0x00, 0x7E};
    assert_memory_equal(h + 1, l126, 3);

    assert_int_equal(ll_ws_frame_header(0x1, 65535, h), 4);
    const uint8_t l65535[] = {126, 0xFF, 0xFF};
    assert_memory_equal(h + 1, l65535, 3);

    assert_int_equal(ll_ws_frame_header(0x1, 65536, h), 10);
    const uint8_t l65536[] = {127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    assert_memory_equal(h + 1, l65536, 9);

    assert_int_equal(ll_ws_frame_header(0x1, 0x0102030405ULL, h), 10);
    const uint8_t lbig[] = {127, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05};
    assert_memory_equal(h + 1, lbig, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_sse_bytes_are_id_then_data_then_blank_line),
        cmocka_unit_test(test_event_sse_id_holds_the_largest_seq),
        cmocka_unit_test(test_event_ws_frame_is_unmasked_text_with_the_payload),
        cmocka_unit_test(test_event_ws_frame_length_encoding_at_each_boundary),
        cmocka_unit_test(test_event_valid_tx_frames_exist_only_with_a_tx_id),
        cmocka_unit_test(test_event_valid_tx_shapes_hold_exactly_their_three_keys),
        cmocka_unit_test(test_event_ids_frame_puts_the_id_first_into_the_envelope),
        cmocka_unit_test(test_event_ids_frame_of_an_empty_object_and_of_the_largest_seq),
        cmocka_unit_test(test_event_ids_frame_needs_a_seq_and_an_object),
        cmocka_unit_test(test_event_ids_frame_length_encoding_at_each_boundary),
        cmocka_unit_test(test_event_ids_frame_counts_as_the_events_stream),
        cmocka_unit_test(test_event_parses_up_to_three_addresses),
        cmocka_unit_test(test_event_desc_add_address_keeps_three_that_a_filter_can_name),
        cmocka_unit_test(test_event_new_refuses_an_unknown_type),
        cmocka_unit_test(test_event_type_parse_knows_each_name),
        cmocka_unit_test(test_event_type_name_and_index_take_exactly_one_type),
        cmocka_unit_test(test_event_raw_copies_the_bytes),
        cmocka_unit_test(test_event_encodings_do_not_alias_the_descriptor),
        cmocka_unit_test(test_event_refs_from_many_threads_end_in_one_free),
        cmocka_unit_test(test_event_last_unref_on_another_thread_frees_it),
        cmocka_unit_test(test_ws_frame_header_encodes_opcode_and_each_length_form),
    };
    return cmocka_run_group_tests_name("stream/event", tests, NULL, NULL);
}
