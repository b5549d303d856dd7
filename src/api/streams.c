/* api/streams.c: the stream routes: the seed's WebSocket streams
 * (GET /api/v1/streams/{valid_tx,valid_transactions,events}) and its
 * Server-Sent Events (GET /api/stream). Everything that can be refused is
 * refused here as an ordinary JSON error, before the connection is taken
 * over by net/ws.c or net/sse.c.
 *
 * The two streams that need a session (SSE and the events WebSocket) ride
 * on the cookie, which a browser sends along whatever page opens them; they
 * refuse a foreign Origin, so no other site can read a user's events
 * through the user's own browser. They also hand the session to their
 * subscriber, which ends the stream when the session ends. */
#include "api/api.h"
#include "auth/session.h"
#include "net/sse.h"
#include "net/ws.h"
#include "util/err.h"
#include "util/list.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* types=: a comma list; unknown names are ignored (seed 002). A list of
 * only unknown names filters nothing, like an absent one. */
static uint32_t parse_types(const char *list)
{
    uint32_t mask = 0;
    const char *item;
    size_t len;
    while (ll_list_next(&list, &item, &len))
        mask |= ll_ev_type_parse(item, len);
    return mask;
}

_Static_assert(LL_EV_ADDR_MAX == LL_API_ADDRESS_MAX, "a filter holds any address");

/* The filters both event streams take. Answers req and returns < 0 when
 * they are malformed. An unknown or undecodable types= value is not: it
 * filters nothing, like an absent one. */
static int parse_filters(ll_req_t *req, ll_sub_opts_t *o, char address[LL_EV_ADDR_MAX + 1])
{
    char value[512];
    /* A value is never longer than the query it is in. */
    size_t cap = strlen(ll_req_query(req)) + 1;
    char *types = malloc(cap);
    if (!types) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return LL_ENOMEM;
    }
    if (ll_req_query_param(req, "types", types, cap) >= 0)
        o->types = parse_types(types);
    free(types); /* absent, or a %00 or a broken escape in it: every type */
    int rc = ll_req_query_param(req, "address", value, sizeof value);
    if (rc >= 0) {
        if (ll_api_parse_address(value, address) < 0) { /* any case, optional 0x */
            ll_req_respond_error(req, LL_EBADADDRESS,
                                 "address is 32 or 40 hex digits, optionally after 0x");
            return LL_EBADADDRESS;
        }
        o->address = address;
    } else if (rc != LL_ENOTFOUND) {
        ll_req_respond_error(req, LL_EBADADDRESS, "address is 32 or 40 hex digits");
        return rc;
    }
    return 0;
}

/* The session the request's cookie names, remembered by the subscriber so
 * that logout or expiry ends the stream. Answers req when there is none. */
static int require_session(ll_api_worker_t *ctx, ll_req_t *req, ll_auth_session_t *sess,
                           ll_sub_opts_t *o)
{
    int rc;
    if (ctx->app->relay) { /* sessions reach a relay through NATS (relay.h) */
        ll_stream_backend_t b = ll_relay_backend(ctx->app->relay);
        rc = ll_auth_session_get_expiry(b.session_expiry, b.ctx, req, sess);
    } else {
        rc = ll_auth_session_get(ctx->reader, req, sess);
    }
    if (rc == LL_EUNAUTHORIZED)
        ll_req_respond_error(req, rc, "this stream needs a session: log in at /api/login");
    else if (rc < 0)
        ll_req_respond_error(req, rc, "sessions cannot be checked right now");
    if (rc < 0)
        return rc;
    o->session = sess->token_hash;
    o->session_expires_ms = sess->expires_ms;
    return 0;
}

/* A relay that has not yet read where the stream ends cannot tell a new
 * stream where live begins (relay/relay.h): 503, which clients retry.
 * Answers req and returns 0 then. */
static int relay_ready(ll_api_worker_t *ctx, ll_req_t *req)
{
    if (!ctx->app->relay || ll_relay_ready(ctx->app->relay))
        return 1;
    ll_req_respond_error(req, LL_EUNAVAILABLE,
                         "this relay has not reached the event stream (NATS) yet; retry");
    return 0;
}

static void respond_foreign_origin(ll_req_t *req)
{
    ll_req_respond_error(req, LL_EFORBIDDEN, "this Origin may not open this stream");
}

/* Last-Event-ID (the header EventSource sends when it reconnects) or the
 * last_event_id query parameter (for clients that cannot set headers): the
 * SSE stream and the events WebSocket resume after it. 0 is before the
 * first event (seqs start at 1): the whole log. Answers req when it is
 * malformed. */
static int resume_point(ll_api_worker_t *ctx, ll_req_t *req, ll_sub_opts_t *o)
{
    char value[32];
    uint64_t seq = 0;
    const char *id = ll_req_header(req, "Last-Event-ID");
    int rc = id ? 0 : ll_req_query_param(req, "last_event_id", value, sizeof value);
    if (rc == LL_ENOTFOUND)
        return 0;
    if (rc >= 0 && !id)
        id = value;
    if (id && !*id)
        return 0; /* empty, as EventSource may send it: live from now */
    /* rc < 0: a value too long for any id, or badly escaped */
    if (rc < 0 || ll_api_parse_uint(id, UINT64_MAX, &seq) < 0) {
        ll_req_respond_error(req, LL_EBADPARAM, "Last-Event-ID is an event id (an integer)");
        return LL_EBADPARAM;
    }
    o->resume = 1;
    o->resume_after = seq;
    if (ctx->app->relay && !ll_relay_can_resume(ctx->app->relay, seq)) {
        ll_req_respond_error(
            req, LL_EUNAVAILABLE,
            "this relay cannot reach the history after %" PRIu64 " right now; retry", seq);
        return LL_EUNAVAILABLE;
    }
    return 0;
}

/* ids=1 on the events WebSocket: each frame carries its event's "id",
 * the Last-Event-ID to resume from (LL_WIRE_WS_EVENTS_IDS); ids=0 or none
 * keeps the frames as they are. Answers req for any other value. */
static int parse_ids(ll_req_t *req, ll_sub_opts_t *o)
{
    char value[8];
    int rc = ll_req_query_param(req, "ids", value, sizeof value);
    if (rc == LL_ENOTFOUND)
        return 0;
    if (rc < 0 || (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)) {
        ll_req_respond_error(req, LL_EBADPARAM, "ids is 0 or 1");
        return LL_EBADPARAM;
    }
    if (value[0] == '1')
        o->wire = LL_WIRE_WS_EVENTS_IDS;
    return 0;
}

void ll_api_ws_stream(ll_api_worker_t *ctx, ll_req_t *req, const char *name)
{
    char head[256], why[LL_ERRMSG_MAX], address[LL_EV_ADDR_MAX + 1];
    ll_auth_session_t sess;
    size_t len;
    ll_sub_opts_t o = {.queue_cap = ctx->app->config->client_queue};
    int rc;
    if (!ctx->fanout || !ctx->sink) {
        ll_req_respond_error(req, LL_ENOMEM, "this worker cannot serve streams");
        return;
    }
    if (strcmp(name, "valid_tx") == 0) {
        o.wire = LL_WIRE_WS_VALID_TX;
    } else if (strcmp(name, "valid_transactions") == 0) {
        o.wire = LL_WIRE_WS_VALID_TXS;
    } else if (strcmp(name, "events") == 0) {
        o.wire = LL_WIRE_WS_EVENTS;
    } else {
        ll_req_respond_error(req, LL_ENOTFOUND,
                             "no stream '%s': try valid_tx, valid_transactions or events", name);
        return;
    }
    if (o.wire == LL_WIRE_WS_EVENTS ? !ll_api_origin_same_site(ctx, req)
                                    : !ll_api_origin_public_ok(ctx, req)) {
        respond_foreign_origin(req);
        return;
    }
    if (!relay_ready(ctx, req))
        return;
    /* The seed's shapes (valid_tx, valid_transactions) take no options. */
    if (o.wire == LL_WIRE_WS_EVENTS &&
        (require_session(ctx, req, &sess, &o) < 0 || parse_filters(req, &o, address) < 0 ||
         resume_point(ctx, req, &o) < 0 || parse_ids(req, &o) < 0))
        return;
    if ((rc = ll_ws_handshake(req, head, sizeof head, &len, why)) < 0) {
        if (rc == LL_EUPGRADE)
            ll_req_add_header(req, "Sec-WebSocket-Version", "13");
        ll_req_respond_error(req, rc, "%s", why);
        return;
    }
    ll_ws_start(req, head, len, ctx->fanout, &o, ctx->app->config->ws_idle_timeout_s);
}

/* Accept must allow text/event-stream (seed 002); the seed's own Python
 * example sends requests' default "* / *", which does. */
static int accepts_event_stream(const ll_req_t *req)
{
    const char *accept = ll_req_header(req, "Accept");
    return accept && (strstr(accept, "text/event-stream") || strstr(accept, "text/*") ||
                      strstr(accept, "*/*"));
}

void ll_api_sse_stream(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char address[LL_EV_ADDR_MAX + 1];
    ll_auth_session_t sess;
    ll_sub_opts_t o = {.wire = LL_WIRE_SSE, .queue_cap = ctx->app->config->client_queue};
    (void)param;
    if (!ctx->fanout || !ctx->sink) {
        ll_req_respond_error(req, LL_ENOMEM, "this worker cannot serve streams");
        return;
    }
    if (!ll_api_origin_same_site(ctx, req)) {
        respond_foreign_origin(req);
        return;
    }
    if (!relay_ready(ctx, req) || require_session(ctx, req, &sess, &o) < 0)
        return;
    if (!accepts_event_stream(req)) {
        ll_req_respond_error(req, LL_ENOTACCEPTABLE,
                             "this is an event stream: send 'Accept: text/event-stream'");
        return;
    }
    if (parse_filters(req, &o, address) < 0 || resume_point(ctx, req, &o) < 0)
        return;
    ll_sse_start(req, ctx->fanout, &o, ctx->app->config->sse_heartbeat_s);
}
