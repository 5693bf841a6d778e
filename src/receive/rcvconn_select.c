/*
 * rcvconn_select.c — see rcvconn_select.h.
 * Must never: differ between the choice a connection gets and the one
 * Test-ReceiveConnector explains (both are rcvconn_explain).
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

/* The most specific binding of rc that matches local, or NULL. */
static const struct binding *
best_binding(const struct receive_connector *rc, const struct sockaddr *local)
{
    const struct binding *best = NULL;

    for (size_t i = 0; i < rc->nbindings; i++) {
        const struct binding *b = &rc->bindings[i];
        if (binding_matches(b, local) && (best == NULL || (best->any && !b->any)))
            best = b;
    }
    return best;
}

const struct receive_connector *
rcvconn_explain(const struct config *cfg, const struct sockaddr *local,
                const struct sockaddr *remote, struct rcvconn_reason *out)
{
    const struct receive_connector *winner = NULL;
    const struct iprange *winner_range = NULL;
    int winner_rank = 0;
    size_t winner_index = 0;

    for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
        const struct receive_connector *rc = &cfg->receive_connectors[i];
        const struct binding *b = best_binding(rc, local);
        const struct iprange *range = best_range(rc, remote);
        int rank = b == NULL ? 0 : b->any ? 1 : 2;
        enum rcvconn_verdict v = !rc->enabled    ? RCV_DISABLED
                                 : rank == 0     ? RCV_NO_BINDING
                                 : range == NULL ? RCV_NO_RANGE
                                                 : RCV_LESS_SPECIFIC;

        if (out != NULL)
            out[i] = (struct rcvconn_reason){rc, v, b, range};
        if (v != RCV_LESS_SPECIFIC)
            continue;
        if (winner == NULL || rank > winner_rank ||
            (rank == winner_rank && iprange_cmp_size(range, winner_range) < 0)) {
            winner = rc;
            winner_range = range;
            winner_rank = rank;
            winner_index = i;
        }
    }
    if (winner != NULL && out != NULL)
        out[winner_index].verdict = RCV_CHOSEN;
    return winner;
}

const struct receive_connector *
rcvconn_select(const struct config *cfg, const struct sockaddr *local,
               const struct sockaddr *remote)
{
    return rcvconn_explain(cfg, local, remote, NULL);
}

unsigned
rcvconn_rights(const struct receive_connector *rc, bool authenticated, bool domain_secured)
{
    unsigned groups = rc->permission_groups, rights = 0;

    if (!authenticated && (groups & PERM_ANONYMOUS_USERS))
        rights |= RIGHT_SUBMIT;
    if (authenticated && (groups & PERM_EXCHANGE_USERS))
        rights |= RIGHT_SUBMIT | RIGHT_RELAY;
    if ((rc->auth_mechanism & AUTHM_EXTERNAL_AUTHORITATIVE) && (groups & PERM_EXCHANGE_SERVERS))
        rights |= RIGHT_SUBMIT | RIGHT_RELAY | RIGHT_ORG_HEADERS;
    /* Partners: exactly the transactions whose sender domain the client
     * certificate proved (domain security). */
    if (domain_secured && (groups & PERM_PARTNERS))
        rights |= RIGHT_SUBMIT;
    return rights;
}
