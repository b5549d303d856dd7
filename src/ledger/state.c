/* ledger/state.c: see state.h. Every change of one transaction goes through
 * an undo log, so a transaction fails as a whole even when sender, recipient
 * and miner are the same account (their balances alias). */
#include "ledger/state.h"
#include "store/contracts.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/hmap.h"
#include "vm/vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct account {
    uint64_t next_nonce;
    int dirty;
} account_t;

typedef struct balance {
    char address[LL_VM_ADDRESS_HEX + 1]; /* a chain (32) or contract (40) address */
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

/* A contract deployed in this view. */
typedef struct contract {
    char *code;
    size_t len;
    char deployer[LL_ADDRESS_HEX + 1];
    char tx_id[LL_TX_ID_HEX + 1];
    uint64_t height;
} contract_t;

/* A contract storage slot read or written in this view. */
typedef struct slot {
    char address[LL_VM_ADDRESS_HEX + 1];
    char *key;
    size_t key_len;
    int present; /* 0: empty (never set, or deleted) */
    ll_store_slot_t value;
    int dirty;
} slot_t;

struct ll_state {
    ll_store_t *st;
    ll_hmap_t *accounts;  /* address -> account_t */
    ll_hmap_t *balances;  /* address '/' asset_id -> balance_t */
    ll_hmap_t *assets;    /* asset_id -> asset_t, created in this view */
    ll_hmap_t *contracts; /* address -> contract_t, deployed in this view */
    ll_hmap_t *slots;     /* address '/' hex(key) -> slot_t */
    int64_t gas_price;    /* native units per unit of gas */
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
    s->contracts = ll_hmap_new();
    s->slots = ll_hmap_new();
    if (!s->accounts || !s->balances || !s->assets || !s->contracts || !s->slots) {
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

static void free_contract(const char *key, void *value, void *arg)
{
    contract_t *c = value;
    (void)key;
    (void)arg;
    free(c->code);
    free(c);
}

static void free_slot(const char *key, void *value, void *arg)
{
    slot_t *sl = value;
    (void)key;
    (void)arg;
    free(sl->key);
    free(sl->value.sval);
    free(sl);
}

void ll_state_reset(ll_state_t *s)
{
    ll_hmap_each(s->accounts, free_value, NULL);
    ll_hmap_each(s->balances, free_value, NULL);
    ll_hmap_each(s->assets, free_asset, NULL);
    ll_hmap_each(s->contracts, free_contract, NULL);
    ll_hmap_each(s->slots, free_slot, NULL);
    ll_hmap_clear(s->accounts);
    ll_hmap_clear(s->balances);
    ll_hmap_clear(s->assets);
    ll_hmap_clear(s->contracts);
    ll_hmap_clear(s->slots);
}

void ll_state_free(ll_state_t *s)
{
    if (!s)
        return;
    if (s->accounts && s->balances && s->assets && s->contracts && s->slots)
        ll_state_reset(s);
    ll_hmap_free(s->accounts);
    ll_hmap_free(s->balances);
    ll_hmap_free(s->assets);
    ll_hmap_free(s->contracts);
    ll_hmap_free(s->slots);
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
    char key[LL_VM_ADDRESS_HEX + LL_ASSET_ID_HEX + 2];
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

/* ---- contracts ------------------------------------------------------------- */

static int contract_exists(ll_state_t *s, const char *address)
{
    if (ll_hmap_get(s->contracts, address))
        return 1;
    return ll_store_contract_exists(s->st, address);
}

/* The slot of (address, key) in this view, read through from the store. */
static slot_t *get_slot(ll_state_t *s, const char *address, const char *key, size_t key_len)
{
    char *id = malloc(LL_VM_ADDRESS_HEX + 2 + 2 * key_len + 1);
    slot_t *sl = NULL;
    int rc;
    if (!id)
        return NULL;
    memcpy(id, address, LL_VM_ADDRESS_HEX);
    id[LL_VM_ADDRESS_HEX] = '/';
    ll_hex_encode((const uint8_t *)key, key_len, id + LL_VM_ADDRESS_HEX + 1);
    if ((sl = ll_hmap_get(s->slots, id)))
        goto out;
    if (!(sl = calloc(1, sizeof *sl)) || !(sl->key = malloc(key_len + 1)))
        goto fail;
    snprintf(sl->address, sizeof sl->address, "%s", address);
    memcpy(sl->key, key, key_len);
    sl->key_len = key_len;
    rc = ll_store_get_slot(s->st, address, key, key_len, &sl->value);
    if (rc < 0 && rc != LL_ENOTFOUND)
        goto fail;
    sl->present = rc == 0;
    if (ll_hmap_put(s->slots, id, sl) < 0)
        goto fail;
    goto out;
fail:
    if (sl)
        free_slot(NULL, sl, NULL);
    sl = NULL;
out:
    free(id);
    return sl;
}

typedef struct run_ctx {
    ll_state_t *s;
    const char *contract;
} run_ctx_t;

/* The VM's view of committed storage: this block's writes first. */
static int vm_storage_get(void *arg, const char *key, size_t key_len, ll_vm_value_t *out)
{
    run_ctx_t *rc = arg;
    slot_t *sl = get_slot(rc->s, rc->contract, key, key_len);
    if (!sl)
        return LL_ENOMEM;
    if (!sl->present)
        *out = (ll_vm_value_t){.type = LL_VM_NIL};
    else if (sl->value.is_int)
        *out = (ll_vm_value_t){.type = LL_VM_INT, .i = sl->value.ival};
    else
        *out = (ll_vm_value_t){.type = LL_VM_STR, .s = sl->value.sval, .len = sl->value.slen};
    return 0;
}

static int apply_writes(ll_state_t *s, const char *contract, const ll_vm_result_t *r)
{
    for (size_t i = 0; i < r->nwrites; i++) {
        const ll_vm_write_t *w = &r->writes[i];
        slot_t *sl = get_slot(s, contract, w->key, w->key_len);
        char *copy = NULL;
        if (!sl)
            return LL_ENOMEM;
        if (w->value.type == LL_VM_STR) {
            if (!(copy = malloc(w->value.len + 1)))
                return LL_ENOMEM;
            memcpy(copy, w->value.s, w->value.len);
            copy[w->value.len] = '\0';
        }
        free(sl->value.sval);
        sl->present = w->value.type != LL_VM_NIL;
        sl->value = (ll_store_slot_t){.is_int = w->value.type == LL_VM_INT,
                                      .ival = w->value.i,
                                      .sval = copy,
                                      .slen = w->value.type == LL_VM_STR ? w->value.len : 0};
        sl->dirty = 1;
    }
    return 0;
}

/* The seed's receipt: tx_id, type, success, gas_used, to, return_data, logs,
 * error. Steals nothing from r. */
static json_t *receipt_json(const ll_tx_t *tx, const ll_vm_result_t *r, const char *to)
{
    char *ret = ll_vm_return_hex(r);
    json_t *logs = r->success && r->logs ? json_incref(r->logs) : json_array();
    json_t *j = ret && logs
                    ? json_pack("{s:s, s:s, s:b, s:I, s:o, s:s, s:o, s:o}", "tx_id", tx->tx_id,
                                "type", ll_tx_kind_name(tx->kind), "success", r->success,
                                "gas_used", (json_int_t)r->gas_used, "to",
                                to ? json_string(to) : json_null(), "return_data", ret, "logs",
                                logs, "error", r->error ? json_string(r->error) : json_null())
                    : NULL;
    if (!j)
        json_decref(logs);
    free(ret);
    return j;
}

void ll_state_set_gas_price(ll_state_t *s, int64_t units_per_gas)
{
    s->gas_price = units_per_gas;
}

int ll_state_native_balance(ll_state_t *s, const char *address, int64_t *units)
{
    balance_t *b = get_balance(s, address, LL_NATIVE_ASSET_ID);
    if (!b)
        return LL_ESTORE;
    *units = b->units;
    return 0;
}

/* Runs a deploy: on success the contract exists in this view. */
static int run_deploy(ll_state_t *s, const ll_tx_t *tx, uint64_t height, json_t **receipt,
                      uint64_t *gas_used)
{
    ll_vm_result_t r = {0};
    char address[LL_VM_ADDRESS_HEX + 1];
    contract_t *c = NULL;
    int rc;
    if ((rc = ll_keys_vm_address(tx->sender, tx->nonce, address)) < 0 ||
        (rc = ll_vm_deploy(tx->code, tx->code_len, tx->gas_limit, &r)) < 0)
        goto out;
    *gas_used = r.gas_used;
    if (r.success) {
        rc = LL_ENOMEM;
        if (!(c = calloc(1, sizeof *c)) || !(c->code = malloc(tx->code_len + 1)))
            goto out;
        memcpy(c->code, tx->code, tx->code_len);
        c->code[tx->code_len] = '\0';
        c->len = tx->code_len;
        snprintf(c->deployer, sizeof c->deployer, "%s", tx->sender);
        snprintf(c->tx_id, sizeof c->tx_id, "%s", tx->tx_id);
        c->height = height;
        if (ll_hmap_put(s->contracts, address, c) < 0)
            goto out;
        c = NULL;
    }
    rc = (*receipt = receipt_json(tx, &r, r.success ? address : NULL)) ? 0 : LL_ENOMEM;
out:
    if (c)
        free_contract(NULL, c, NULL);
    ll_vm_result_free(&r);
    return rc;
}

/* Runs a call whose fee and amount are already booked; on failure the
 * amount goes back from the contract to the caller. */
static int run_call(ll_state_t *s, const ll_tx_t *tx, uint64_t height, balance_t *caller,
                    balance_t *contract, json_t **receipt, uint64_t *gas_used)
{
    ll_vm_result_t r = {0};
    run_ctx_t storage = {s, tx->to};
    ll_vm_ctx_t ctx = {tx->sender, tx->amount, height, tx->to, vm_storage_get, &storage};
    contract_t *c = ll_hmap_get(s->contracts, tx->to);
    char *code = c ? c->code : NULL, *loaded = NULL;
    size_t len = c ? c->len : 0;
    int rc = 0;
    if (!code && (rc = ll_store_contract_code(s->st, tx->to, &loaded, &len)) < 0)
        goto out;
    code = code ? code : loaded;
    if ((rc = ll_vm_call(code, len, tx->selector, tx->args, &ctx, tx->gas_limit, &r)) < 0)
        goto out;
    *gas_used = r.gas_used;
    if (r.success) {
        rc = apply_writes(s, tx->to, &r);
    } else {
        contract->units -= tx->amount; /* credited just before: cannot underflow */
        caller->units += tx->amount;   /* debited just before: cannot overflow */
    }
    if (rc == 0)
        rc = (*receipt = receipt_json(tx, &r, tx->to)) ? 0 : LL_ENOMEM;
out:
    free(loaded);
    ll_vm_result_free(&r);
    return rc;
}

/* ---- applying a transaction ------------------------------------------------- */

static int apply(ll_state_t *s, const ll_tx_t *tx, const char *miner, uint64_t height, int run,
                 json_t **receipt, char *why)
{
    undo_t log[12];
    int n = 0, rc;
    int contract = tx->kind == LL_TX_DEPLOY || tx->kind == LL_TX_CALL;
    /* Gas is paid in the native coin: gas_limit x price is reserved up front
     * (gas_limit <= 10^7 and the price <= 10^6, so it fits), and what the run
     * used goes to the miner in its block; the rest comes back. */
    int64_t reserve = contract ? (int64_t)tx->gas_limit * s->gas_price : 0;
    uint64_t gas_used = 0;
    balance_t *touched[4] = {0};
    account_t *acct = get_account(s, tx->sender);
    balance_t *fee_from = get_balance(s, tx->sender, LL_NATIVE_ASSET_ID);
    balance_t *fee_to = get_balance(s, miner, LL_NATIVE_ASSET_ID);
    balance_t *from = NULL, *to = NULL;
    asset_t *created = NULL;

    if (receipt)
        *receipt = NULL;
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
    } else if (tx->kind == LL_TX_CALL) {
        if ((rc = contract_exists(s, tx->to)) <= 0) {
            snprintf(why, LL_ERRMSG_MAX, "no contract is deployed at 0x%s", tx->to);
            return rc < 0 ? LL_ESTORE : LL_EUNKNOWNCONTRACT;
        }
        from = fee_from; /* the amount is paid in the native coin */
        to = get_balance(s, tx->to, LL_NATIVE_ASSET_ID);
    }
    if ((tx->kind == LL_TX_TRANSFER && (!from || !to)) ||
        ((tx->kind == LL_TX_CREATE || tx->kind == LL_TX_CALL) && !to)) {
        snprintf(why, LL_ERRMSG_MAX, "state unavailable");
        return LL_ESTORE;
    }

    /* Debits first, so a sender cannot spend what this very transaction
     * credits it (a self-transfer or the miner paying itself a fee). */
    if ((rc = debit(log, &n, fee_from, tx->fee)) < 0) {
        snprintf(why, LL_ERRMSG_MAX, "balance cannot pay the fee of %" PRId64 " units", tx->fee);
        goto fail;
    }
    if (reserve && (rc = debit(log, &n, fee_from, reserve)) < 0) {
        snprintf(why, LL_ERRMSG_MAX,
                 "balance cannot pay the fee plus gas_limit x gas price (%" PRId64 " units)",
                 reserve);
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
        if (!created ||
            !(created->data_json =
                  json_dumps(tx->asset_data, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY)) ||
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
    /* A contract runs only in a block; admission books its fee and amount. */
    if (run && tx->kind == LL_TX_DEPLOY)
        rc = run_deploy(s, tx, height, receipt, &gas_used);
    else if (run && tx->kind == LL_TX_CALL)
        rc = run_call(s, tx, height, from, to, receipt, &gas_used);
    if (rc < 0) {
        snprintf(why, LL_ERRMSG_MAX, "the contract could not be run: %s", ll_err_name(rc));
        goto fail;
    }
    if (run && reserve) {
        /* gas_used <= gas_limit, so neither side can overflow or underflow. */
        int64_t cost = (int64_t)gas_used * s->gas_price;
        if ((rc = credit(log, &n, fee_from, reserve - cost)) < 0 ||
            (rc = credit(log, &n, fee_to, cost)) < 0) {
            snprintf(why, LL_ERRMSG_MAX, "the miner's balance would pass the integer range");
            json_decref(*receipt);
            *receipt = NULL;
            goto fail;
        }
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

int ll_state_apply(ll_state_t *s, const ll_tx_t *tx, const char *miner, uint64_t height, char *why)
{
    return apply(s, tx, miner, height, 0, NULL, why);
}

int ll_state_apply_block(ll_state_t *s, const ll_tx_t *tx, const char *miner, uint64_t height,
                         json_t **receipt, char *why)
{
    return apply(s, tx, miner, height, 1, receipt, why);
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
        f->rc =
            ll_store_put_asset(f->s->st, asset_id, a->issuer, a->amount, a->data_json, a->height);
}

static void flush_contract(const char *address, void *value, void *arg)
{
    flush_ctx_t *f = arg;
    contract_t *c = value;
    if (f->rc == 0)
        f->rc = ll_store_put_contract(f->s->st, address, c->code, c->len, c->deployer, c->tx_id,
                                      c->height);
}

static void flush_slot(const char *id, void *value, void *arg)
{
    flush_ctx_t *f = arg;
    slot_t *sl = value;
    (void)id;
    if (f->rc == 0 && sl->dirty)
        f->rc = ll_store_set_slot(f->s->st, sl->address, sl->key, sl->key_len,
                                  sl->present ? &sl->value : NULL);
}

int ll_state_flush(ll_state_t *s)
{
    flush_ctx_t f = {s, 0};
    ll_hmap_each(s->accounts, flush_account, &f);
    ll_hmap_each(s->balances, flush_balance, &f);
    ll_hmap_each(s->assets, flush_asset, &f);
    ll_hmap_each(s->contracts, flush_contract, &f);
    ll_hmap_each(s->slots, flush_slot, &f);
    return f.rc;
}
