/* stream/event.c: builds an event's encodings once, in a single allocation:
 * the struct, then each encoding's bytes. The WebSocket frames are written
 * here rather than through wslay because a broadcast frame is the same
 * bytes for every subscriber (servers never mask) and wslay would copy and
 * frame it again per connection. */
#include "stream/event.h"
#include "util/json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one table of type names, indexed by bit position. */
static const char *const type_names[LL_EV_TYPE_COUNT] = {"block", "tx", "message", "receipt"};

int ll_ev_type_index(ll_ev_type_t type)
{
    for (int i = 0; i < LL_EV_TYPE_COUNT; i++)
        if ((uint32_t)type == 1u << i)
            return i;
    return -1;
}

const char *ll_ev_type_name(ll_ev_type_t type)
{
    int i = ll_ev_type_index(type);
    return i < 0 ? NULL : type_names[i];
}

ll_ev_type_t ll_ev_type_parse(const char *name, size_t len)
{
    for (int i = 0; i < LL_EV_TYPE_COUNT; i++)
        if (strlen(type_names[i]) == len && memcmp(type_names[i], name, len) == 0)
            return (ll_ev_type_t)(1u << i);
    return 0;
}

size_t ll_ws_frame_header(uint8_t opcode, size_t payload_len, uint8_t out[10])
{
    out[0] = (uint8_t)(0x80 | opcode);
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)payload_len >> (56 - 8 * i));
    return 10;
}

ll_wire_t ll_wire_stream(ll_wire_t wire)
{
    return wire == LL_WIRE_WS_EVENTS_IDS ? LL_WIRE_WS_EVENTS : wire;
}

/* The texts an event is encoded from, before they are laid out. */
typedef struct parts {
    char sse_head[32]; /* "id: <seq>\ndata: " */
    size_t sse_head_len;
    /* The events frame with its id: ids_head, then the envelope after its
     * "{" (ids_rest). ids_head_len 0: the event has no such frame. */
    char ids_head[32]; /* {"id":<seq>, (no comma before an empty object's "}") */
    size_t ids_head_len;
    const char *ids_rest;
    char *valid_tx;  /* JSON or NULL */
    char *valid_txs; /* JSON or NULL */
} parts_t;

static size_t frame_size(size_t payload)
{
    uint8_t hdr[10];
    return ll_ws_frame_header(0x1, payload, hdr) + payload;
}

/* Writes a text frame whose payload is a then b at p; returns the bytes
 * written. */
static size_t put_frame2(char *p, const char *a, size_t alen, const char *b, size_t blen)
{
    uint8_t hdr[10];
    size_t h = ll_ws_frame_header(0x1, alen + blen, hdr);
    memcpy(p, hdr, h);
    memcpy(p + h, a, alen);
    memcpy(p + h + alen, b, blen);
    return h + alen + blen;
}

static size_t put_frame(char *p, const char *payload, size_t len)
{
    return put_frame2(p, payload, len, "", 0);
}

/* The id goes first into the envelope's own object, so a client reads it
 * like any other key. The envelope is compact JSON (util/json.h), and so
 * is what goes in front of it. Seq 0 (not in the log) has no id to resume
 * from, and a payload that is not an object has no place for one. */
static void build_ids_head(const ll_event_desc_t *d, parts_t *p)
{
    if (d->seq == 0 || d->payload[0] != '{')
        return;
    const char *rest = d->payload + 1;
    int empty = rest[strspn(rest, " \t\r\n")] == '}';
    p->ids_head_len = (size_t)snprintf(p->ids_head, sizeof p->ids_head, "{\"id\":%" PRIu64 "%s",
                                       d->seq, empty ? "" : ",");
    p->ids_rest = rest;
}

static int build_parts(const ll_event_desc_t *d, parts_t *p)
{
    memset(p, 0, sizeof *p);
    p->sse_head_len =
        (size_t)snprintf(p->sse_head, sizeof p->sse_head, "id: %" PRIu64 "\ndata: ", d->seq);
    build_ids_head(d, p);
    if (!d->tx_id)
        return 0;
    json_t *a = json_pack("{s:s, s:s, s:s}", "txid", d->tx_id, "assetid", d->asset_id, "blockid",
                          d->block_hash);
    json_t *b = json_pack("{s:s, s:s, s:I}", "transaction_id", d->tx_id, "asset_id", d->asset_id,
                          "block_height", (json_int_t)d->height);
    p->valid_tx = a ? json_dumps(a, LL_JSON_FLAGS) : NULL;
    p->valid_txs = b ? json_dumps(b, LL_JSON_FLAGS) : NULL;
    json_decref(a);
    json_decref(b);
    return p->valid_tx && p->valid_txs ? 0 : -1;
}

void ll_event_desc_add_address(ll_event_desc_t *d, const char *addr, size_t len)
{
    if (len == 0 || len > LL_EV_ADDR_MAX || d->naddr >= LL_EV_MAX_ADDRS)
        return;
    memcpy(d->addr[d->naddr], addr, len);
    d->addr[d->naddr][len] = '\0';
    d->naddr++;
}

void ll_event_desc_parse_addresses(ll_event_desc_t *d, const char *list)
{
    const char *p = list ? list : "";
    while (*p && d->naddr < LL_EV_MAX_ADDRS) {
        size_t n = strcspn(p, " ");
        ll_event_desc_add_address(d, p, n);
        p += n;
        p += strspn(p, " ");
    }
}

ll_event_t *ll_event_new(const ll_event_desc_t *d)
{
    int valid = ll_ev_type_index(d->type) >= 0 && d->naddr <= LL_EV_MAX_ADDRS;
    size_t plen = strlen(d->payload), size;
    parts_t parts;
    ll_event_t *ev = NULL;
    if (!valid || build_parts(d, &parts) < 0)
        goto out;
    size_t sse_len = parts.sse_head_len + plen + 2;
    size_t ws_len = frame_size(plen);
    size_t ids_plen = parts.ids_head_len ? parts.ids_head_len + plen - 1 : 0;
    size_t ids_len = ids_plen ? frame_size(ids_plen) : 0;
    size_t vt_len = parts.valid_tx ? frame_size(strlen(parts.valid_tx)) : 0;
    size_t vts_len = parts.valid_txs ? frame_size(strlen(parts.valid_txs)) : 0;
    size = sizeof *ev + sse_len + ws_len + ids_len + vt_len + vts_len;
    if (!(ev = calloc(1, size)))
        goto out;
    atomic_init(&ev->refs, 1);
    ev->seq = d->seq;
    ev->type = d->type;
    ev->naddr = d->naddr;
    memcpy(ev->addr, d->addr, d->naddr * sizeof d->addr[0]);

    char *p = (char *)(ev + 1);
    ev->wire[LL_WIRE_SSE].bytes = p;
    memcpy(p, parts.sse_head, parts.sse_head_len);
    memcpy(p + parts.sse_head_len, d->payload, plen);
    memcpy(p + parts.sse_head_len + plen, "\n\n", 2);
    ev->wire[LL_WIRE_SSE].len = sse_len;
    p += sse_len;
    ev->wire[LL_WIRE_WS_EVENTS].bytes = p;
    ev->wire[LL_WIRE_WS_EVENTS].len = put_frame(p, d->payload, plen);
    p += ws_len;
    if (ids_len) {
        ev->wire[LL_WIRE_WS_EVENTS_IDS].bytes = p;
        ev->wire[LL_WIRE_WS_EVENTS_IDS].len =
            put_frame2(p, parts.ids_head, parts.ids_head_len, parts.ids_rest, plen - 1);
        p += ids_len;
    }
    if (parts.valid_tx) {
        ev->wire[LL_WIRE_WS_VALID_TX].bytes = p;
        ev->wire[LL_WIRE_WS_VALID_TX].len = put_frame(p, parts.valid_tx, strlen(parts.valid_tx));
        p += vt_len;
        ev->wire[LL_WIRE_WS_VALID_TXS].bytes = p;
        ev->wire[LL_WIRE_WS_VALID_TXS].len = put_frame(p, parts.valid_txs, strlen(parts.valid_txs));
    }
out:
    if (valid) {
        free(parts.valid_tx);
        free(parts.valid_txs);
    }
    return ev;
}

ll_event_t *ll_event_raw(const char *bytes, size_t len)
{
    ll_event_t *ev = calloc(1, sizeof *ev + len);
    if (!ev)
        return NULL;
    atomic_init(&ev->refs, 1);
    memcpy(ev + 1, bytes, len);
    ev->wire[LL_WIRE_RAW].bytes = (const char *)(ev + 1);
    ev->wire[LL_WIRE_RAW].len = len;
    return ev;
}

ll_event_t *ll_event_ref(ll_event_t *ev)
{
    atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
    return ev;
}

void ll_event_unref(ll_event_t *ev)
{
    /* Release/acquire: every thread's last use happens before the free. */
    if (ev && atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1)
        free(ev);
}
