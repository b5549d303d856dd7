/* nats/evmsg.c: see evmsg.h. */
#include "nats/evmsg.h"
#include "nats/natsconn.h"
#include "util/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_HEIGHT "Ledgerline-Height"
#define H_ADDRESSES "Ledgerline-Addresses"
#define H_TX_ID "Ledgerline-Tx-Id"
#define H_ASSET_ID "Ledgerline-Asset-Id"
#define H_BLOCK_HASH "Ledgerline-Block-Hash"

natsStatus ll_evmsg_build(const ll_store_event_t *row, natsMsg **out)
{
    char subject[sizeof LL_NATS_SUBJECT_PREFIX + 16], height[24];
    natsMsg *m = NULL;
    natsStatus s;

    *out = NULL;
    snprintf(subject, sizeof subject, LL_NATS_SUBJECT_PREFIX "%s", row->type);
    snprintf(height, sizeof height, "%" PRIu64, row->height);
    s = natsMsg_Create(&m, subject, NULL, row->payload, (int)strlen(row->payload));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, H_HEIGHT, height);
    if (s == NATS_OK && *row->addresses)
        s = natsMsgHeader_Set(m, H_ADDRESSES, row->addresses);
    if (s == NATS_OK && row->asset_id && row->block_hash && *row->tx_id) {
        s = natsMsgHeader_Set(m, H_TX_ID, row->tx_id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, H_ASSET_ID, row->asset_id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, H_BLOCK_HASH, row->block_hash);
    }
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        return s;
    }
    *out = m;
    return NATS_OK;
}

/* A decimal uint64 with nothing around it. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static const char *header(natsMsg *msg, const char *key)
{
    const char *v = NULL;
    return natsMsgHeader_Get(msg, key, &v) == NATS_OK ? v : NULL;
}

int ll_evmsg_parse(natsMsg *msg, ll_event_desc_t *d)
{
    const char *subject = natsMsg_GetSubject(msg);
    const size_t plen = sizeof LL_NATS_SUBJECT_PREFIX - 1;
    memset(d, 0, sizeof *d);
    if (!subject || strncmp(subject, LL_NATS_SUBJECT_PREFIX, plen) != 0)
        return LL_EMALFORMED;
    d->type = ll_ev_type_parse(subject + plen, strlen(subject + plen));
    if (!d->type || parse_u64(header(msg, "Nats-Msg-Id"), &d->seq) < 0 || d->seq == 0 ||
        parse_u64(header(msg, H_HEIGHT), &d->height) < 0)
        return LL_EMALFORMED;
    /* nats.c keeps a message's data NUL-terminated. */
    d->payload = natsMsg_GetData(msg);
    if (!d->payload || natsMsg_GetDataLength(msg) <= 0)
        return LL_EMALFORMED;
    ll_event_desc_parse_addresses(d, header(msg, H_ADDRESSES));
    const char *tx = header(msg, H_TX_ID), *asset = header(msg, H_ASSET_ID),
               *block = header(msg, H_BLOCK_HASH);
    if (tx && asset && block) {
        d->tx_id = tx;
        d->asset_id = asset;
        d->block_hash = block;
    }
    return 0;
}
