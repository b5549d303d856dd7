/* ledger/saved.c: see saved.h. */
#include "ledger/saved.h"
#include "store/pending.h"
#include "util/err.h"

#include <stdlib.h>

typedef struct save_ctx {
    ll_store_t *st;
    int rc;
} save_ctx_t;

static void save_one(const ll_tx_t *tx, void *arg)
{
    save_ctx_t *c = arg;
    char *body;
    if (c->rc < 0)
        return;
    if (!(body = ll_tx_dump(tx))) {
        c->rc = LL_ENOMEM;
        return;
    }
    c->rc = ll_store_save_pending(c->st, tx->tx_id, tx->origin, body);
    free(body);
}

int ll_saved_write(ll_store_t *st, const ll_mempool_t *mp)
{
    save_ctx_t c = {st, 0};
    if ((c.rc = ll_store_begin(st)) < 0)
        return c.rc;
    if ((c.rc = ll_store_clear_pending(st)) == 0)
        ll_mempool_each(mp, save_one, &c);
    if (c.rc == 0 && (c.rc = ll_store_commit(st)) == 0)
        return 0;
    ll_store_rollback(st);
    return c.rc;
}

int ll_saved_forget(ll_store_t *st)
{
    int rc;
    if ((rc = ll_store_begin(st)) == 0 && (rc = ll_store_clear_pending(st)) == 0 &&
        (rc = ll_store_commit(st)) == 0)
        return 0;
    ll_store_rollback(st);
    return rc;
}
