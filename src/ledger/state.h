/* ledger/state.h: the ledger's rules (nonces, balances, assets, fees) applied
 * to a view of accounts that lies over the committed store.
 * Owns:    the accounts, balances and assets it has touched (the overlay);
 *          reads what it has not touched from the store it was given.
 * Threads: the ledger thread only (it reads the writer connection).
 *
 * The ledger keeps two views: one for admission (committed state plus every
 * pending transaction, so a sender's second transaction is checked against
 * the first) and one per block being built, which is flushed into the
 * block's SQLite transaction. Both run ll_state_apply, so a transaction that
 * was admitted applies the same way in its block. */
#ifndef LL_LEDGER_STATE_H
#define LL_LEDGER_STATE_H

#include "ledger/tx.h"
#include "store/store.h"

#include <stdint.h>

typedef struct ll_state ll_state_t;

ll_state_t *ll_state_new(ll_store_t *st);
void ll_state_free(ll_state_t *s);

/* Forgets the overlay: the view is the committed store again. */
void ll_state_reset(ll_state_t *s);

/* Applies tx as part of a block mined by miner at height: checks the nonce
 * (LL_EBADNONCE), the asset (LL_EUNKNOWNASSET), funds including the fee
 * (LL_EFUNDS), a call's contract (LL_EUNKNOWNCONTRACT: deployed in a
 * committed block) and credits (LL_EBALANCEOVERFLOW); then debits the sender,
 * credits the recipient and the miner's fee, bumps the nonce and records a
 * created asset. On failure nothing changes and why says what was wrong. */
int ll_state_apply(ll_state_t *s, const ll_tx_t *tx, const char *miner, uint64_t height, char *why);

/* ll_state_apply for a block: deploys and calls also run their contract
 * (vm/vm.h). A contract's failure is not the transaction's: the fee is
 * paid, the nonce used, a call's amount returned, its writes dropped, and
 * *receipt (the seed's receipt object, caller owns) says what happened.
 * *receipt is NULL for other kinds. Fails as ll_state_apply does, and
 * also, with nothing changed, when a run has no receipt (vm/vm.h):
 * LL_ECANCELED (the node is stopping) or LL_ETIMELIMIT (the run outlived
 * the time limit). */
int ll_state_apply_block(ll_state_t *s, const ll_tx_t *tx, const char *miner, uint64_t height,
                         json_t **receipt, char *why);

/* Native units one unit of gas costs in this view (0 until set). A deploy
 * or call needs fee + amount + gas_limit x price; in its block the miner
 * gets fee + gas_used x price and the rest of the reserve goes back. */
void ll_state_set_gas_price(ll_state_t *s, int64_t units_per_gas);

/* The native-coin balance of address in this view. */
int ll_state_native_balance(ll_state_t *s, const char *address, int64_t *units);

/* The next nonce of address in this view (the faucet signs with it). */
int ll_state_next_nonce(ll_state_t *s, const char *address, uint64_t *nonce);

/* Adds units of asset to address (genesis allocation). */
int ll_state_credit(ll_state_t *s, const char *address, const char *asset_id, int64_t units);

/* Writes every changed nonce, balance, new asset, new contract and changed
 * contract storage slot to the store; the caller holds the store's
 * transaction open. */
int ll_state_flush(ll_state_t *s);

#endif
