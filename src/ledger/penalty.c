/* ledger/penalty.c: the table of ledger/penalty.h. Open addressing over
 * LL_PENALTY_PROBES slots from a SipHash of the address, so that senders
 * who pick their keys still cannot crowd one neighbourhood on purpose. */
#include "ledger/penalty.h"

#include <stdio.h>
#include <string.h>

void ll_penalty_init(ll_penalties_t *p)
{
    memset(p, 0, sizeof *p);
    crypto_shorthash_keygen(p->key);
}

static size_t home(const ll_penalties_t *p, const char *address)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    crypto_shorthash(h, (const unsigned char *)address, strlen(address), p->key);
    memcpy(&v, h, sizeof v);
    return (size_t)(v % LL_PENALTY_SLOTS);
}

static ll_penalty_slot_t *find(const ll_penalties_t *p, const char *address)
{
    size_t at = home(p, address);
    for (size_t i = 0; i < LL_PENALTY_PROBES; i++) {
        const ll_penalty_slot_t *s = &p->slot[(at + i) % LL_PENALTY_SLOTS];
        if (s->until_ms && strcmp(s->address, address) == 0)
            return (ll_penalty_slot_t *)s;
    }
    return NULL;
}

void ll_penalty_add(ll_penalties_t *p, const char *address, uint64_t now_ms)
{
    ll_penalty_slot_t *s = find(p, address);
    size_t at = home(p, address);
    for (size_t i = 0; !s && i < LL_PENALTY_PROBES; i++) {
        ll_penalty_slot_t *c = &p->slot[(at + i) % LL_PENALTY_SLOTS];
        if (!s || c->until_ms < s->until_ms)
            s = c; /* a free or expired slot has the smallest until_ms */
        if (c->until_ms <= now_ms)
            break;
    }
    snprintf(s->address, sizeof s->address, "%s", address);
    s->until_ms = now_ms + LL_PENALTY_MS;
}

uint64_t ll_penalty_left(const ll_penalties_t *p, const char *address, uint64_t now_ms)
{
    const ll_penalty_slot_t *s = find(p, address);
    return s && s->until_ms > now_ms ? s->until_ms - now_ms : 0;
}
