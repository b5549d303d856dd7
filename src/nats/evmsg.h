/* nats/evmsg.h: one event of the log as one JetStream message, both ways:
 * the node's feed builds it from a row of the log, a relay reads it back
 * into the event it encodes for its subscribers. docs/API.md §7.1 pins the
 * format for anyone else reading the stream.
 *
 *   subject  ledgerline.events.<type>
 *   data     the envelope JSON (what the SSE stream sends after "data: ")
 *   Nats-Msg-Id             the event's seq (decimal)
 *   Ledgerline-Height       the chain height the event belongs to
 *   Ledgerline-Addresses    the addresses filters match, space-separated
 *   Ledgerline-Tx-Id, Ledgerline-Asset-Id, Ledgerline-Block-Hash
 *                           a committed transaction's (valid_tx shapes)
 *
 * Owns:    nothing; built messages belong to the caller.
 * Threads: any. */
#ifndef LL_NATS_EVMSG_H
#define LL_NATS_EVMSG_H

#include "store/history.h"
#include "stream/event.h"

#include <nats/nats.h>

/* A new message for row (subject, data, headers except Nats-Msg-Id, which
 * the publish options set). */
natsStatus ll_evmsg_build(const ll_store_event_t *row, natsMsg **out);

/* Fills d from msg (strings point into msg: valid while it lives). Returns
 * 0, or LL_EMALFORMED when msg is not an event of this format. */
int ll_evmsg_parse(natsMsg *msg, ll_event_desc_t *d);

#endif
