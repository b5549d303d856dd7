/* stream/event.h: one event, encoded once per wire format.
 * Owns:    its encoded bytes (SSE text and each WebSocket frame shape), in
 *          one allocation with the event. Never mutated after creation.
 *          An event of the log holds its envelope three times (SSE, the
 *          events frame without and with its id), plus the small valid_tx
 *          shapes; it lives only while a batch, a queue or a write holds it.
 * Frees:   the last ll_event_unref(); nobody calls free() on an event.
 * Threads: created on the ledger thread (live events) or a worker (history
 *          replay, raw bytes); once published any thread may ref/unref it
 *          (the count is atomic).
 *
 * Subscribers' queues hold event pointers, and a write hands the encoded
 * bytes straight to the socket: an event's bytes are never copied per
 * subscriber. */
#ifndef LL_STREAM_EVENT_H
#define LL_STREAM_EVENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Event types, as bits of a subscriber's filter mask. Their names live in
 * one table (event.c): the events table's type column, each envelope's
 * "type" and a client's types= all spell them from there. */
typedef enum {
    LL_EV_BLOCK = 1u << 0,
    LL_EV_TX = 1u << 1,
    LL_EV_MESSAGE = 1u << 2,
    LL_EV_RECEIPT = 1u << 3,
} ll_ev_type_t;
#define LL_EV_ALL (LL_EV_BLOCK | LL_EV_TX | LL_EV_MESSAGE | LL_EV_RECEIPT)
#define LL_EV_TYPE_COUNT 4

typedef enum {
    LL_WIRE_SSE,       /* "id: <seq>\ndata: <envelope>\n\n" */
    LL_WIRE_WS_EVENTS, /* a text frame holding the envelope */
    /* A text frame holding {"id":<seq>, then the envelope after its "{":
     * the events stream with ids=1, whose clients resume from that id. An
     * event has it when its seq is not 0 and its envelope is an object. */
    LL_WIRE_WS_EVENTS_IDS,
    LL_WIRE_WS_VALID_TX,  /* {"txid","assetid","blockid"}: committed transactions */
    LL_WIRE_WS_VALID_TXS, /* {"transaction_id","asset_id","block_height"}: likewise */
    LL_WIRE_RAW,          /* one subscriber's own bytes (comments, control frames) */
    LL_WIRE_COUNT
} ll_wire_t;

/* The stream a wire format serves, for counting (stats.h, /metrics): the
 * events stream with ids is the events stream; every other format is its
 * own. */
ll_wire_t ll_wire_stream(ll_wire_t wire);

#define LL_EV_MAX_ADDRS 3
#define LL_EV_ADDR_MAX 40 /* hex digits of a contract address; chain addresses have 32 */

typedef struct ll_event {
    _Atomic uint32_t refs;
    uint64_t seq; /* position in the event log; 0 for raw bytes */
    ll_ev_type_t type;
    uint8_t naddr;
    char addr[LL_EV_MAX_ADDRS][LL_EV_ADDR_MAX + 1]; /* lowercase hex */
    struct {
        const char *bytes;
        size_t len; /* 0: the event does not exist in this format */
    } wire[LL_WIRE_COUNT];
} ll_event_t;

/* What an event is made of; strings are copied. The ledger fills it from
 * its own values; only a row read back from the events table is parsed
 * (ll_ev_type_parse, ll_event_desc_parse_addresses). */
typedef struct ll_event_desc {
    uint64_t seq;
    ll_ev_type_t type; /* exactly one LL_EV_* bit */
    uint8_t naddr;
    char addr[LL_EV_MAX_ADDRS][LL_EV_ADDR_MAX + 1]; /* see ll_event_desc_add_address */
    const char *payload;                            /* the envelope JSON: {"type": …, …} */
    /* A transaction committed in a block also has the seed's valid_tx
     * shapes; tx_id NULL means it has none (blocks, pending messages,
     * replayed history). */
    const char *tx_id;
    const char *asset_id;
    const char *block_hash;
    uint64_t height;
} ll_event_desc_t;

/* Adds the len bytes at addr (lowercase hex) as d's next address. An empty
 * or overlong one, or one past the LL_EV_MAX_ADDRS-th, is left out: no
 * subscriber filter can name it. */
void ll_event_desc_add_address(ll_event_desc_t *d, const char *addr, size_t len);

/* Adds each address of an events-table addresses column (space-separated;
 * NULL is none) to d, as ll_event_desc_add_address does. For history
 * replay, which reads rows back; live events never pass through text. */
void ll_event_desc_parse_addresses(ll_event_desc_t *d, const char *list);

/* A new event with one reference; NULL when out of memory, d->type is not
 * one type or d->naddr is over LL_EV_MAX_ADDRS. */
ll_event_t *ll_event_new(const ll_event_desc_t *d);

/* Bytes for one subscriber only (copied), e.g. an SSE comment or a pong. */
ll_event_t *ll_event_raw(const char *bytes, size_t len);

ll_event_t *ll_event_ref(ll_event_t *ev);
void ll_event_unref(ll_event_t *ev);

/* The bit of a type name, 0 when unknown. For names from outside the
 * process: a client's types= list, a row of the events table. */
ll_ev_type_t ll_ev_type_parse(const char *name, size_t len);

/* The name of one type ("block", "tx", "message", "receipt"); NULL for 0 or
 * a mask of several. */
const char *ll_ev_type_name(ll_ev_type_t type);

/* 0 .. LL_EV_TYPE_COUNT-1 for one type, in bit order, so tables can be kept
 * per type; -1 for 0 or a mask of several. */
int ll_ev_type_index(ll_ev_type_t type);

/* Writes the RFC 6455 §5.2 header of an unmasked server frame with FIN set
 * (opcode: 0x1 text, 0x8 close, 0x9 ping, 0xA pong) into out (room for 10
 * bytes); returns its length. */
size_t ll_ws_frame_header(uint8_t opcode, size_t payload_len, uint8_t out[10]);

#endif
