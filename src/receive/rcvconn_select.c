/*
 * rcvconn_select.c — see rcvconn_select.h.
 */
#include "receive/rcvconn_select.h"

#include <stdbool.h>
#include <stddef.h>

/* The smallest range of rc that contains remote, or NULL. */
static const struct iprange *
best_range(const struct receive_connector *rc, const struct sockaddr *remote)
{
    const struct iprange *best = NULL;

    for (size_t i = 0; i < rc->nremote_ip_ranges; i++) {
        const struct iprange *r = &rc->remote_ip_ranges[i];
        if (iprange_contains(r, remote) && (best == NULL || iprange_cmp_size(r, best) < 0))
            best = r;
    }
    return best;
}

/* 2 for a specific-address binding, 1 for a wildcard one, 0 for none. */
static int
binding_rank(const struct receive_connector *rc, const struct sockaddr *local)
{
    int rank = 0;

    for (size_t i = 0; i < rc->nbindings; i++) {
        const struct binding *b = &rc->bindings[i];
        if (binding_matches(b, local) && (b->any ? 1 : 2) > rank)
            rank = b->any ? 1 : 2;
    }
    return rank;
}

const struct receive_connector *
rcvconn_select(const struct config *cfg, const struct sockaddr *local,
               const struct sockaddr *remote)
{
    const struct receive_connector *winner = NULL;
    const struct iprange *winner_range = NULL;
    int winner_rank = 0;

    for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
        const struct receive_connector *rc = &cfg->receive_connectors[i];
        const struct iprange *range;
        int rank;

        if (!rc->enabled || (rank = binding_rank(rc, local)) == 0)
            continue;
        if ((range = best_range(rc, remote)) == NULL)
            continue;
        if (winner == NULL || rank > winner_rank ||
            (rank == winner_rank && iprange_cmp_size(range, winner_range) < 0)) {
            winner = rc;
            winner_range = range;
            winner_rank = rank;
        }
    }
    return winner;
}
