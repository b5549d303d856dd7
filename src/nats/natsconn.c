/* nats/natsconn.c: see natsconn.h. */
#include "nats/natsconn.h"
#include "nats/evmsg.h"
#include "util/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_WAIT_MS 250
#define CONNECT_TIMEOUT_MS 2000
#define PING_INTERVAL_MS 2000 /* a broker that vanished without a FIN is noticed in ~4 s */
#define MAX_PINGS_OUT 2
#define JS_WAIT_MS 5000       /* JetStream API requests */
#define MAX_PENDING_ACKS 4096 /* publishes in flight */

struct ll_natsconn {
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
};

/* Splits "a,b,c" into at most LL_NATS_URLS_MAX non-empty URLs (copied into
 * buf, which must hold strlen(urls) + 1 bytes). */
static int split_urls(const char *urls, char *buf, const char **out)
{
    int n = 0;
    strcpy(buf, urls);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        if (n == LL_NATS_URLS_MAX || strncmp(tok, "nats://", 7) != 0)
            return -1;
        out[n++] = tok;
    }
    return n;
}

/* Given to the library so that a first connect that fails returns at once
 * and goes on in the background (with no callback, it blocks until NATS
 * answers, which may be never). */
static void on_connected(natsConnection *nc, void *arg)
{
    (void)nc;
    (void)arg;
}

int ll_natsconn_open(const char *urls, const char *name, jsPubAckErrHandler on_error, void *arg,
                     ll_natsconn_t **out)
{
    const char *list[LL_NATS_URLS_MAX];
    ll_natsconn_t *c = calloc(1, sizeof *c);
    char *buf = malloc(strlen(urls) + 1);
    int n, rc = LL_ENOMEM;

    *out = NULL;
    if (!c || !buf)
        goto fail;
    rc = LL_ECONFIG;
    if ((n = split_urls(urls, buf, list)) <= 0)
        goto fail;
    rc = LL_ENOMEM;
    if (natsOptions_Create(&c->opts) != NATS_OK ||
        natsOptions_SetServers(c->opts, list, n) != NATS_OK ||
        natsOptions_SetName(c->opts, name) != NATS_OK ||
        natsOptions_SetMaxReconnect(c->opts, -1) != NATS_OK ||
        natsOptions_SetReconnectWait(c->opts, RECONNECT_WAIT_MS) != NATS_OK ||
        natsOptions_SetTimeout(c->opts, CONNECT_TIMEOUT_MS) != NATS_OK ||
        natsOptions_SetPingInterval(c->opts, PING_INTERVAL_MS) != NATS_OK ||
        natsOptions_SetMaxPingsOut(c->opts, MAX_PINGS_OUT) != NATS_OK ||
        natsOptions_SetRetryOnFailedConnect(c->opts, true, on_connected, NULL) != NATS_OK)
        goto fail;
    natsStatus s = natsConnection_Connect(&c->nc, c->opts);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
        goto fail;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = JS_WAIT_MS;
    jo.PublishAsync.MaxPending = MAX_PENDING_ACKS;
    jo.PublishAsync.ErrHandler = on_error;
    jo.PublishAsync.ErrHandlerClosure = arg;
    if (natsConnection_JetStream(&c->js, c->nc, &jo) != NATS_OK)
        goto fail;
    free(buf);
    *out = c;
    return 0;
fail:
    free(buf);
    ll_natsconn_free(c);
    return rc;
}

void ll_natsconn_close(ll_natsconn_t *c)
{
    if (c && c->nc)
        natsConnection_Close(c->nc);
}

void ll_natsconn_free(ll_natsconn_t *c)
{
    if (!c)
        return;
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
    natsOptions_Destroy(c->opts);
    free(c);
}

int ll_natsconn_connected(ll_natsconn_t *c)
{
    return c && c->nc && natsConnection_Status(c->nc) == NATS_CONN_STATUS_CONNECTED;
}

jsCtx *ll_natsconn_js(ll_natsconn_t *c)
{
    return c->js;
}

natsStatus ll_natsconn_ensure_stream(ll_natsconn_t *c, const char *stream, uint32_t replicas)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return NATS_OK; /* an operator's stream is used as it is */
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
        return s;
    const char *subjects[] = {LL_NATS_SUBJECT_PREFIX ">"};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas ? replicas : 1;
    s = js_AddStream(&si, c->js, &cfg, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK && jerr == JSStreamNameExistErr)
        return NATS_OK; /* made by someone else in between */
    return s;
}

natsStatus ll_natsconn_last_msg_id(ll_natsconn_t *c, const char *stream, uint64_t *seq)
{
    jsStreamInfo *si = NULL;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    const char *id = NULL;
    *seq = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, stream, NULL, &jerr);
    if (s != NATS_OK)
        return s;
    uint64_t last = si->State.Msgs ? si->State.LastSeq : 0;
    jsStreamInfo_Destroy(si);
    if (last == 0)
        return NATS_OK;
    if ((s = js_GetMsg(&m, c->js, stream, last, NULL, &jerr)) != NATS_OK)
        return s;
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id && *id >= '0' && *id <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(id, &end, 10);
        if (!errno && !*end)
            *seq = v;
        else
            s = NATS_ERR;
    } else {
        s = NATS_ERR;
    }
    natsMsg_Destroy(m);
    return s;
}

natsStatus ll_natsconn_publish_event(ll_natsconn_t *c, const ll_store_event_t *row, uint64_t prev)
{
    char id[24], prev_id[24];
    natsMsg *m = NULL;
    jsPubOptions po;
    natsStatus s = ll_evmsg_build(row, &m);
    if (s != NATS_OK)
        return s;
    jsPubOptions_Init(&po);
    snprintf(id, sizeof id, "%" PRIu64, row->seq);
    po.MsgId = id;
    if (prev) {
        snprintf(prev_id, sizeof prev_id, "%" PRIu64, prev);
        po.ExpectLastMsgId = prev_id;
    }
    s = js_PublishMsgAsync(c->js, &m, &po);
    natsMsg_Destroy(m); /* NULL once the library took it */
    return s;
}

natsStatus ll_natsconn_wait_acks(ll_natsconn_t *c, int64_t ms)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = ms;
    natsStatus s = js_PublishAsyncComplete(c->js, &po);
    if (s != NATS_OK) {
        natsMsgList pending;
        if (js_PublishAsyncGetPendingList(&pending, c->js) == NATS_OK)
            natsMsgList_Destroy(&pending);
    }
    return s;
}

void ll_nats_release(void)
{
    nats_CloseAndWait(2000);
}
