/* ledger/commit.c: writing one block: its row, its transactions and
 * receipts, the state it changed, a re-read and re-verification of what was
 * written ("quantum verified"), and its event rows, in one SQLite
 * transaction. The ledger thread calls it while it owns the writer. */
#include "ledger/commit.h"
#include "ledger/block.h"
#include "store/contracts.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reread {
    ll_tx_t *const *expected;
    size_t n;
    size_t seen;
    char (*ids)[LL_TX_ID_HEX + 1]; /* the ids as read back, for the tx root */
} reread_t;

static int reread_tx(const ll_store_tx_t *row, void *arg)
{
    reread_t *r = arg;
    char why[LL_ERRMSG_MAX];
    if (r->seen >= r->n || row->index != r->seen) {
        LL_ERROR("ledger: stored transaction %s is out of place", row->tx_id);
        return LL_EINTERNAL;
    }
    /* The signature was verified once, at admission, on a worker; the
     * stored bytes are bound to that verified tx_id by their hash. */
    const ll_tx_t *verified = r->expected[r->seen];
    int rc = ll_tx_bound(row->body, verified, why);
    if (rc < 0) {
        LL_ERROR("ledger: stored transaction %s fails verification: %s", row->tx_id, why);
        return rc;
    }
    memcpy(r->ids[r->seen++], verified->tx_id, sizeof r->ids[0]);
    return 0;
}

/* Re-reads the block just written (inside its open transaction) and checks
 * its proof of work, its tx root, and that every stored transaction hashes
 * to the tx_id whose signature was verified at admission. */
static int verify_persisted(ll_store_t *st, const ll_block_hdr_t *b, ll_tx_t *const *txs, size_t n)
{
    ll_block_hdr_t back;
    char root[65];
    char(*ids)[LL_TX_ID_HEX + 1] = calloc(n ? n : 1, sizeof *ids);
    const char **id_ptrs = calloc(n ? n : 1, sizeof *id_ptrs);
    reread_t r = {txs, n, 0, ids};
    int rc = LL_ENOMEM;
    if (!ids || !id_ptrs)
        goto out;
    if ((rc = ll_store_block_by_height(st, b->height, &back)) < 0)
        goto out;
    rc = LL_EINTERNAL;
    if (strcmp(back.hash, b->hash) != 0 || !ll_block_pow_ok(&back)) {
        LL_ERROR("ledger: block %" PRIu64 " fails its proof of work after persisting", b->height);
        goto out;
    }
    if ((rc = ll_store_block_txs(st, b->height, reread_tx, &r)) < 0)
        goto out;
    rc = LL_EINTERNAL;
    for (size_t i = 0; i < r.seen; i++)
        id_ptrs[i] = ids[i];
    if (r.seen != n || ll_block_tx_root(id_ptrs, n, root) < 0 || strcmp(root, back.tx_root) != 0) {
        LL_ERROR("ledger: block %" PRIu64 " transactions differ after persisting", b->height);
        goto out;
    }
    rc = 0;
out:
    free(id_ptrs);
    free(ids);
    return rc;
}

static int store_tx(ll_store_t *st, const ll_tx_t *tx, uint64_t height, uint32_t index)
{
    ll_store_tx_t row = {0};
    snprintf(row.tx_id, sizeof row.tx_id, "%s", tx->tx_id);
    row.height = height;
    row.index = index;
    row.kind = ll_tx_kind_name(tx->kind);
    snprintf(row.sender, sizeof row.sender, "%s", tx->sender);
    snprintf(row.recipient, sizeof row.recipient, "%s", tx->recipient);
    snprintf(row.asset_id, sizeof row.asset_id, "%s", tx->asset_id);
    row.amount = tx->amount;
    row.fee = tx->fee;
    row.nonce = tx->nonce;
    row.timestamp_ms = tx->timestamp_ms;
    row.body = ll_tx_text(tx);
    return ll_store_put_tx(st, &row);
}

static int store_receipt(ll_store_t *st, const ll_tx_t *tx, const json_t *receipt, uint64_t height)
{
    char *text = json_dumps(receipt, LL_JSON_FLAGS);
    int rc = text ? ll_store_put_receipt(st, tx->tx_id, height, text) : LL_ENOMEM;
    free(text);
    return rc;
}

int ll_commit_block(ll_store_t *st, ll_state_t *building, ll_events_t *events, ll_block_hdr_t *b,
                    ll_tx_t *const *txs, json_t *const *receipts, size_t n, ll_batch_t **out)
{
    ll_batch_t *batch = NULL;
    int rc;
    *out = NULL;
    if ((rc = ll_store_begin(st)) < 0)
        return rc;
    if ((rc = ll_store_put_block(st, b)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if ((rc = store_tx(st, txs[i], b->height, (uint32_t)i)) < 0)
            goto fail;
        if (receipts && receipts[i] && (rc = store_receipt(st, txs[i], receipts[i], b->height)) < 0)
            goto fail;
    }
    if ((rc = ll_state_flush(building)) < 0)
        goto fail;
    if ((rc = verify_persisted(st, b, txs, n)) < 0)
        goto fail;
    b->quantum_verified = 1;
    if ((rc = ll_store_set_verified(st, b->height)) < 0)
        goto fail;
    if ((rc = ll_events_append_block(events, st, b, txs, receipts, n, &batch)) < 0)
        goto fail;
    if ((rc = ll_store_commit(st)) < 0)
        goto fail;
    ll_events_commit(events);
    *out = batch;
    return 0;
fail:
    ll_store_rollback(st);
    ll_events_abort(events); /* the retry must append the same events again */
    ll_batch_unref(batch);
    b->quantum_verified = 0;
    return rc;
}
