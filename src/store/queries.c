/* store/queries.c: the SQL of every statement the store runs, by id (sql.h),
 * in one place beside the schema (schema.c) it must agree with. Each is
 * prepared on every connection at open (ll_sql_prepare_all), so a statement
 * the schema refuses fails the open. */
#include "store/sql.h"

#define BLOCK_COLS                                                                                 \
    "height, hash, previous_hash, timestamp_ms, tx_count, miner, difficulty, nonce, tx_root, "     \
    "quantum_verified"
#define TX_COLS                                                                                    \
    "tx_id, height, idx, kind, sender, recipient, asset_id, amount, fee, nonce, timestamp_ms, "    \
    "body"

/* A call's contract, "0x" + 40 hex: the expression txs_call_to indexes
 * (schema.c, migration 5); a query must spell it the same way to use it. */
#define CALL_TO "(body ->> '$.to')"

const char *const ll_sql_text[LL_SQL_COUNT] = {
    /* ---- store.c: transactions and node facts ---- */
    [LL_SQL_BEGIN] = "BEGIN IMMEDIATE",
    [LL_SQL_COMMIT] = "COMMIT",
    [LL_SQL_ROLLBACK] = "ROLLBACK",
    [LL_SQL_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [LL_SQL_META_GET] = "SELECT value FROM meta WHERE key = ?1",

    /* ---- chain.c: blocks, transactions, events ---- */
    [LL_SQL_PUT_BLOCK] = "INSERT INTO blocks(" BLOCK_COLS ") "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [LL_SQL_SET_VERIFIED] = "UPDATE blocks SET quantum_verified = 1 WHERE height = ?1",
    [LL_SQL_PUT_TX] = "INSERT INTO txs(" TX_COLS ") "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [LL_SQL_APPEND_EVENT] = "INSERT INTO events(seq, height, type, tx_id, addresses, payload) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [LL_SQL_MAX_SEQ] = "SELECT COALESCE(MAX(seq), 0) FROM events",
    [LL_SQL_LATEST_BLOCK] = "SELECT " BLOCK_COLS " FROM blocks ORDER BY height DESC LIMIT 1",
    [LL_SQL_BLOCK_BY_HEIGHT] = "SELECT " BLOCK_COLS " FROM blocks WHERE height = ?1",
    [LL_SQL_BLOCK_TXS] = "SELECT " TX_COLS " FROM txs WHERE height = ?1 ORDER BY idx",
    [LL_SQL_GET_TX] = "SELECT " TX_COLS " FROM txs WHERE tx_id = ?1",
    /* The explorer's pages: each one range scan of the primary key, newest
     * first, so a page costs its length whatever the chain's. */
    [LL_SQL_BLOCKS_BEFORE] =
        "SELECT " BLOCK_COLS " FROM blocks WHERE height < ?1 ORDER BY height DESC LIMIT ?2",
    [LL_SQL_BLOCK_TX_IDS] = "SELECT tx_id FROM txs WHERE height = ?1 ORDER BY idx",
    /* An address's transactions, newest first, below the position (?2, ?3):
     * four halves, each a range scan of an index in chain order, merged by
     * the compound ORDER BY so that LIMIT stops after ?4 rows (as
     * LL_SQL_MESSAGES). A chain address (32 hex) is a sender (txs_sender) or
     * a recipient (txs_recipient; a transfer to oneself from the first half
     * only); a contract (40 hex) is the `to` of its calls (txs_call_to,
     * schema 5) and its deploy (the contracts row). Only one pair of halves
     * can match an address, since the two kinds differ in length. */
    [LL_SQL_ADDRESS_TXS] =
        "SELECT " TX_COLS " FROM txs WHERE sender = ?1 AND (height, idx) < (?2, ?3)"
        "  UNION ALL"
        "  SELECT " TX_COLS " FROM txs WHERE recipient = ?1 AND (height, idx) < (?2, ?3)"
        "     AND sender <> ?1"
        "  UNION ALL"
        "  SELECT " TX_COLS " FROM txs WHERE kind = 'call' AND " CALL_TO " = '0x' || ?1"
        "     AND (height, idx) < (?2, ?3)"
        "  UNION ALL"
        "  SELECT " TX_COLS " FROM txs"
        "   WHERE tx_id = (SELECT tx_id FROM contracts WHERE address = ?1)"
        "     AND (height, idx) < (?2, ?3)"
        "  ORDER BY height DESC, idx DESC LIMIT ?4",

    /* ---- accounts.c: balances, nonces, assets ---- */
    [LL_SQL_SET_BALANCE] = "INSERT INTO balances(address, asset_id, units) VALUES(?1, ?2, ?3) "
                           "ON CONFLICT(address, asset_id) DO UPDATE SET units = excluded.units",
    [LL_SQL_DEL_BALANCE] = "DELETE FROM balances WHERE address = ?1 AND asset_id = ?2",
    [LL_SQL_SET_NONCE] = "INSERT INTO accounts(address, next_nonce) VALUES(?1, ?2) "
                         "ON CONFLICT(address) DO UPDATE SET next_nonce = excluded.next_nonce",
    [LL_SQL_PUT_ASSET] = "INSERT INTO assets(asset_id, issuer, amount, data, height) "
                         "VALUES(?1, ?2, ?3, ?4, ?5)",
    [LL_SQL_BALANCE] = "SELECT units FROM balances WHERE address = ?1 AND asset_id = ?2",
    [LL_SQL_NONCE] = "SELECT next_nonce FROM accounts WHERE address = ?1",
    [LL_SQL_BALANCES] = "SELECT asset_id, units FROM balances WHERE address = ?1 AND units <> 0 "
                        "ORDER BY asset_id",
    [LL_SQL_ASSET_EXISTS] = "SELECT 1 FROM assets WHERE asset_id = ?1",

    /* ---- history.c: the event log read back; the seq primary key makes each
     * page one index range scan ---- */
    /* A tx or message row whose transaction sits in the block of the row's
     * height is a committed transaction: it gets its asset and block hash
     * (the seed's valid_tx shapes). A pending message's row has the tip
     * before its block, so it joins nothing. */
    [LL_SQL_EVENTS_AFTER] =
        "SELECT e.seq, e.height, e.type, COALESCE(e.tx_id, ''), e.addresses, e.payload, "
        "t.asset_id, b.hash FROM events e "
        "LEFT JOIN txs t ON e.type IN ('tx', 'message') AND t.tx_id = e.tx_id "
        "AND t.height = e.height "
        "LEFT JOIN blocks b ON t.tx_id IS NOT NULL AND b.height = e.height "
        "WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2",

    /* ---- pending.c: the mempool a clean stop leaves ---- */
    [LL_SQL_LOAD_PENDING] = "SELECT body, origin FROM pending_txs ORDER BY pos",
    [LL_SQL_FORGET_PENDING] = "DELETE FROM pending_txs WHERE tx_id = ?1",
    /* ---- journal.c: journal.db's one table ---- */
    [LL_SQL_JOURNAL_APPEND] = "INSERT INTO journal(pos, origin, body) VALUES(?1, ?2, ?3)",
    [LL_SQL_JOURNAL_FORGET] = "DELETE FROM journal WHERE pos = ?1",
    [LL_SQL_JOURNAL_FORGET_BEFORE] = "DELETE FROM journal WHERE pos < ?1",
    [LL_SQL_JOURNAL_LOAD] = "SELECT pos, body, origin FROM journal ORDER BY pos",
    [LL_SQL_JOURNAL_LAST_POS] = "SELECT IFNULL(MAX(pos), 0) FROM journal",

    /* ---- users.c: users, sessions, message history ---- */
    [LL_SQL_PUT_USER] = "INSERT INTO users(username, address, password_hash, sealed_seed, "
                        "created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [LL_SQL_GET_USER] = "SELECT username, address, password_hash, sealed_seed, created_ms "
                        "FROM users WHERE username = ?1",
    [LL_SQL_USERNAME_OF] = "SELECT username FROM users WHERE address = ?1",
    [LL_SQL_PUT_SESSION] = "INSERT INTO sessions(token_hash, username, created_ms, expires_ms) "
                           "VALUES(?1, ?2, ?3, ?4)",
    [LL_SQL_GET_SESSION] = "SELECT s.username, u.address, s.expires_ms FROM sessions s "
                           "JOIN users u ON u.username = s.username WHERE s.token_hash = ?1",
    [LL_SQL_DELETE_SESSION] = "DELETE FROM sessions WHERE token_hash = ?1",
    [LL_SQL_PRUNE_SESSIONS] = "DELETE FROM sessions WHERE expires_ms <= ?1",
    /* In key order, after a key: the JetStream session directory is
     * reconciled a page at a time (nats/sessions.c), merging these with the
     * bucket's sorted keys; the primary key serves the order. Every hash
     * this node writes is 64 hex: nothing else can be a bucket key. */
    [LL_SQL_LIVE_SESSIONS] =
        "SELECT token_hash, expires_ms FROM sessions "
        "WHERE token_hash > ?1 AND expires_ms > ?2 AND length(token_hash) = 64 "
        "ORDER BY token_hash LIMIT ?3",
    [LL_SQL_TX_POSITION] = "SELECT height, idx FROM txs WHERE tx_id = ?1",
    /* Two halves, each a range scan of its own index (txs_sender,
     * txs_recipient) in chain order; the compound ORDER BY merges them, so
     * LIMIT stops after `limit` rows instead of sorting the user's whole
     * history. A message to oneself comes from the first half only. ?2
     * narrows to one other party; ?3/?4 is the position to start below
     * (INT64_MAX when there is none). The outer query names senders and
     * turns the newest-first page oldest first. */
    [LL_SQL_MESSAGES] =
        "SELECT m.tx_id, m.height, m.idx, m.sender, m.recipient, m.timestamp_ms, m.memo, "
        "u.username "
        "FROM ("
        "  SELECT tx_id, height, idx, sender, recipient, timestamp_ms,"
        "         body -> '$.memo' AS memo FROM txs"
        "   WHERE sender = ?1 AND (height, idx) < (?3, ?4) AND kind = 'message'"
        "     AND (?2 IS NULL OR recipient = ?2)"
        "  UNION ALL"
        "  SELECT tx_id, height, idx, sender, recipient, timestamp_ms,"
        "         body -> '$.memo' AS memo FROM txs"
        "   WHERE recipient = ?1 AND (height, idx) < (?3, ?4) AND kind = 'message'"
        "     AND sender <> ?1 AND (?2 IS NULL OR sender = ?2)"
        "  ORDER BY height DESC, idx DESC LIMIT ?5"
        ") m LEFT JOIN users u ON u.address = m.sender "
        "ORDER BY m.height, m.idx",

    /* ---- contracts.c: contracts, their storage, receipts ---- */
    [LL_SQL_PUT_CONTRACT] = "INSERT INTO contracts(address, code, deployer, tx_id, height) "
                            "VALUES(?1, ?2, ?3, ?4, ?5)",
    [LL_SQL_CONTRACT_EXISTS] = "SELECT 1 FROM contracts WHERE address = ?1",
    [LL_SQL_CONTRACT_CODE] = "SELECT code FROM contracts WHERE address = ?1",
    [LL_SQL_GET_SLOT] = "SELECT ival, sval FROM contract_storage WHERE address = ?1 AND key = ?2",
    [LL_SQL_SET_SLOT] =
        "INSERT INTO contract_storage(address, key, ival, sval) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(address, key) DO UPDATE SET ival = excluded.ival, sval = excluded.sval",
    [LL_SQL_DEL_SLOT] = "DELETE FROM contract_storage WHERE address = ?1 AND key = ?2",
    [LL_SQL_PUT_RECEIPT] = "INSERT INTO receipts(tx_id, height, body) VALUES(?1, ?2, ?3)",
    [LL_SQL_GET_RECEIPT] = "SELECT body FROM receipts WHERE tx_id = ?1",
    [LL_SQL_CONTRACT_INFO] =
        "SELECT code, deployer, tx_id, height FROM contracts WHERE address = ?1",
    /* A contract's newest receipts: its calls' (txs_call_to) and its
     * deploy's, the newest ?2 by chain position, then their bodies. */
    [LL_SQL_CONTRACT_RECEIPTS] =
        "SELECT r.body FROM ("
        "  SELECT tx_id, height, idx FROM txs WHERE kind = 'call' AND " CALL_TO " = '0x' || ?1"
        "  UNION ALL"
        "  SELECT tx_id, height, idx FROM txs"
        "   WHERE tx_id = (SELECT tx_id FROM contracts WHERE address = ?1)"
        "  ORDER BY height DESC, idx DESC LIMIT ?2"
        ") t JOIN receipts r ON r.tx_id = t.tx_id ORDER BY t.height DESC, t.idx DESC",
};
