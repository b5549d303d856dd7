/* ledger/state.c: see state.h. Every change of one transaction goes through
 * an undo log, so a transaction fails as a whole even when sender, recipient
 * and miner are the same account (their balances alias). */
#include "ledger/state.h"
#include "util/err.h"
#include "util/hmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct account {
    uint64_t next_nonce;
    int dirty;
} account_t;

typedef struct balance {
    char address[LL_ADDRESS_HEX + 1];
    char asset_id[LL_ASSET_ID_HEX + 1];
    int64_t units;
    int dirty;
} balance_t;

typedef struct asset {
    char issuer[LL_ADDRESS_HEX + 1];
    int64_t amount;
    uint64_t height;
    char *data_json;
} asset_t;

struct ll_state {
    ll_store_t *st;
    ll_hmap_t *accounts; /* address -> account_t */
    ll_hmap_t *balances; /* address '/' asset_id -> balance_t */
    ll_hmap_t *assets;   /* asset_id -> asset_t, created in this view */
};

typedef struct undo {
    int64_t *units;
    int64_t old;
} undo_t;

ll_state_t *ll_state_new(ll_store_t *st)
{
    ll_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->st = st;
    s->accounts = ll_hmap_new();
    s->balances = ll_hmap_new();
    s->assets = ll_hmap_new();
    if (!s->accounts || !s->balances || !s->assets) {
        ll_state_free(s);
        return NULL;
    }
    return s;
}

static void free_value(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

static void free_asset(const char *key, void *value, void *arg)
{
    asset_t *a = value;
    (void)key;
    (void)arg;
    free(a->data_json);
    free(a);
}

void ll_state_reset(ll_state_t *s)
{
    ll_hmap_each(s->accounts, free_value, NULL);
    ll_hmap_each(s->balances, free_value, NULL);
    ll_hmap_each(s->assets, free_asset, NULL);
    ll_hmap_clear(s->accounts);
    ll_hmap_clear(s->balances);
    ll_hmap_clear(s->assets);
}

void ll_state_free(ll_state_t *s)
{
    if (!s)
        return;
    if (s->accounts && s->balances && s->assets)
        ll_state_reset(s);
    ll_hmap_free(s->accounts);
    ll_hmap_free(s->balances);
    ll_hmap_free(s->assets);
    free(s);
}

static account_t *get_account(ll_state_t *s, const char *address)
{
    account_t *a = ll_hmap_get(s->accounts, address);
    if (a)
        return a;
    if (!(a = calloc(1, sizeof *a)))
        return NULL;
    if (ll_store_nonce(s->st, address, &a->next_nonce) < 0 ||
        ll_hmap_put(s->accounts, address, a) < 0) {
        free(a);
        return NULL;
    }
    return a;
}

static balance_t *get_balance(ll_state_t *s, const char *address, const char *asset_id)
{
    char key[LL_ADDRESS_HEX + LL_ASSET_ID_HEX + 2];
    snprintf(key, sizeof key, "%s/%s", address, asset_id);
    balance_t *b = ll_hmap_get(s->balances, key);
    if (b)
        return b;
    if (!(b = calloc(1, sizeof *b)))
        return NULL;
    snprintf(b->address, sizeof b->address, "%s", address);
    snprintf(b->asset_id, sizeof b->asset_id, "%s", asset_id);
    if (ll_store_balance(s->st, address, asset_id, &b->units) < 0 ||
        ll_hmap_put(s->balances, key, b) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

static int asset_exists(ll_state_t *s, const char *asset_id)
{
    if (strcmp(asset_id, LL_NATIVE_ASSET_ID) == 0 || ll_hmap_get(s->assets, asset_id))
        return 1;
    return ll_store_asset_exists(s->st, asset_id);
}

static int debit(undo_t *log, int *n, balance_t *b, int64_t units)
{
    if (b->units < units)
        return LL_EFUNDS;
    log[*n] = (undo_t){&b->units, b->units};
    (*n)++;
    b->units -= units;
    return 0;
}

static int credit(undo_t *log, int *n, balance_t *b, int64_t units)
{
    int64_t sum;
    if (__builtin_add_overflow(b->units, units, &sum))
        return LL_EBALANCEOVERFLOW;
    log[*n] = (undo_t){&b->units, b->units};
    (*n)++;
    b->units = sum;
    return 0;
}

int ll_state_next_nonce(ll_state_t *s, const char *address, uint64_t *nonce)
{
    account_t *a = get_account(s, address);
    if (!a)
        return LL_ESTORE;
    *nonce = a->next_nonce;
    return 0;
}

int ll_state_credit(ll_state_t *s, const char *address, const char *asset_id, int64_t units)
{
    undo_t log[1];
    int n = 0;
    balance_t *b = get_balance(s, address, asset_id);
    if (!b)
        return LL_ESTORE;
    int rc = credit(log, &n, b, units);
    if (rc == 0)
        b->dirty = 1;
    return rc;
}

int ll_state_apply(ll_state_t *s, const ll_tx_t *tx, const char *miner, uint64_t height,
                   char *why)
{
    undo_t log[8];
    int n = 0, rc;
    balance_t *touched[4] = {0};
    account_t *acct = get_account(s, tx->sender);
    balance_t *fee_from = get_balance(s, tx->sender, LL_NATIVE_ASSET_ID);
    balance_t *fee_to = get_balance(s, miner, LL_NATIVE_ASSET_ID);
    balance_t *from = NULL, *to = NULL;
    asset_t *created = NULL;
    (void)height;

    if (!acct || !fee_from || !fee_to) {
        snprintf(why, LL_ERRMSG_MAX, "state unavailable");
        return LL_ESTORE;
    }
    if (tx->nonce != acct->next_nonce) {
        snprintf(why, LL_ERRMSG_MAX, "nonce %" PRIu64 " is not the sender's next nonce %" PRIu64,
                 tx->nonce, acct->next_nonce);
        return LL_EBADNONCE;
    }
    if (tx->kind == LL_TX_TRANSFER) {
        if ((rc = asset_exists(s, tx->asset_id)) <= 0) {
            snprintf(why, LL_ERRMSG_MAX, "asset %s does not exist", tx->asset_id);
            return rc < 0 ? LL_ESTORE : LL_EUNKNOWNASSET;
        }
        from = get_balance(s, tx->sender, tx->asset_id);
        to = get_balance(s, tx->recipient, tx->asset_id);
    } else if (tx->kind == LL_TX_CREATE) {
        to = get_balance(s, tx->sender, tx->asset_id);
    }
    if ((tx->kind == LL_TX_TRANSFER && (!from || !to)) || (tx->kind == LL_TX_CREATE && !to)) {
        snprintf(why, LL_ERRMSG_MAX, "state unavailable");
        return LL_ESTORE;
    }

    /* Debits first, so a sender cannot spend what this very transaction
     * credits it (a self-transfer or the miner paying itself a fee). */
    if ((rc = debit(log, &n, fee_from, tx->fee)) < 0) {
        snprintf(why, LL_ERRMSG_MAX, "balance cannot pay the fee of %" PRId64 " units", tx->fee);
        goto fail;
    }
    if (from && (rc = debit(log, &n, from, tx->amount)) < 0) {
        snprintf(why, LL_ERRMSG_MAX, "balance cannot pay %" PRId64 " units plus the fee",
                 tx->amount);
        goto fail;
    }
    if (to && (rc = credit(log, &n, to, tx->amount)) < 0) {
        snprintf(why, LL_ERRMSG_MAX, "the recipient's balance would pass the integer range");
        goto fail;
    }
    if ((rc = credit(log, &n, fee_to, tx->fee)) < 0) {
        snprintf(why, LL_ERRMSG_MAX, "the miner's balance would pass the integer range");
        goto fail;
    }
    if (tx->kind == LL_TX_CREATE) {
        created = calloc(1, sizeof *created);
        if (!created || !(created->data_json = json_dumps(tx->asset_data, JSON_SORT_KEYS |
                                                                              JSON_COMPACT |
                                                                              JSON_ENCODE_ANY)) ||
            ll_hmap_put(s->assets, tx->asset_id, created) < 0) {
            rc = LL_ENOMEM;
            snprintf(why, LL_ERRMSG_MAX, "out of memory");
            goto fail;
        }
        snprintf(created->issuer, sizeof created->issuer, "%s", tx->sender);
        created->amount = tx->amount;
        created->height = height;
        created = NULL; /* owned by s->assets */
    }
    touched[0] = fee_from, touched[1] = fee_to, touched[2] = from, touched[3] = to;
    for (int i = 0; i < 4; i++)
        if (touched[i])
            touched[i]->dirty = 1;
    acct->next_nonce++;
    acct->dirty = 1;
    return 0;
fail:
    while (n > 0) {
        n--;
        *log[n].units = log[n].old;
    }
    if (created) {
        free(created->data_json);
        free(created);
    }
    return rc;
}

typedef struct flush_ctx {
    ll_state_t *s;
    int rc;
} flush_ctx_t;

static void flush_account(const char *address, void *value, void *arg)
{
    flush_ctx_t *f = arg;
    account_t *a = value;
    if (f->rc == 0 && a->dirty)
        f->rc = ll_store_set_nonce(f->s->st, address, a->next_nonce);
}

static void flush_balance(const char *key, void *value, void *arg)
{
    flush_ctx_t *f = arg;
    balance_t *b = value;
    (void)key;
    if (f->rc == 0 && b->dirty)
        f->rc = ll_store_set_balance(f->s->st, b->address, b->asset_id, b->units);
}

static void flush_asset(const char *asset_id, void *value, void *arg)
{
    flush_ctx_t *f = arg;
    asset_t *a = value;
    if (f->rc == 0)
        f->rc = ll_store_put_asset(f->s->st, asset_id, a->issuer, a->amount, a->data_json,
                                   a->height);
}

int ll_state_flush(ll_state_t *s)
{
    flush_ctx_t f = {s, 0};
    ll_hmap_each(s->accounts, flush_account, &f);
    ll_hmap_each(s->balances, flush_balance, &f);
    ll_hmap_each(s->assets, flush_asset, &f);
    return f.rc;
}
