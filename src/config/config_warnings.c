/*
 * config_warnings.c — see config_warnings.h.
 */
#include "config/config_warnings.h"
#include "config/config.h"
#include "net/iprange.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Addresses that stand for "the internet": a connector whose remote ranges
 * hold any of them takes connections from anywhere. */
static const char *const internet_samples[] = {"1.1.1.1", "8.8.8.8", "2606:4700::1111"};

static bool
open_to_internet(const struct receive_connector *rc)
{
    for (size_t s = 0; s < sizeof(internet_samples) / sizeof(internet_samples[0]); s++) {
        struct sockaddr_storage ss = {0};
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

        if (inet_pton(AF_INET, internet_samples[s], &v4->sin_addr) == 1)
            v4->sin_family = AF_INET;
        else if (inet_pton(AF_INET6, internet_samples[s], &v6->sin6_addr) == 1)
            v6->sin6_family = AF_INET6;
        else
            continue;
        for (size_t i = 0; i < rc->nremote_ip_ranges; i++)
            if (iprange_contains(&rc->remote_ip_ranges[i], (struct sockaddr *)&ss))
                return true;
    }
    return false;
}

/* 127.0.0.0/8 or ::1 (IPv4-mapped loopback included): reachable from this
 * machine only. */
static bool
binding_loopback(const struct binding *b)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

    if (b->any)
        return false;
    if (b->family == AF_INET)
        return b->addr[0] == 127;
    return memcmp(b->addr, v6_loopback, 16) == 0 ||
           (memcmp(b->addr, v4_mapped, 12) == 0 && b->addr[12] == 127);
}

/* Metrics name connectors, partner domains and certificates, and their
 * HTTP has no authentication: meant for a scraper on the same machine. */
static void
metrics_warnings(const struct config *cfg, void (*warn)(void *arg, const char *text), void *arg)
{
    for (size_t i = 0; i < cfg->transport.nmetrics_bindings; i++) {
        const struct binding *b = &cfg->transport.metrics_bindings[i];
        char where[80], text[400];

        if (binding_loopback(b))
            continue;
        binding_format(b, where, sizeof(where));
        snprintf(text, sizeof(text),
                 "TransportConfig MetricsBindings %s is not a loopback address: anyone who "
                 "can reach it reads the metrics (connector names, partner domains, "
                 "certificates) over plain HTTP; prefer 127.0.0.1 or [::1], or filter the port",
                 where);
        warn(arg, text);
    }
}

void
config_warnings(const struct config *cfg, void (*warn)(void *arg, const char *text), void *arg)
{
    metrics_warnings(cfg, warn, arg);
    for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
        const struct receive_connector *rc = &cfg->receive_connectors[i];
        char text[512];

        /* Externally secured: every session is trusted as an Exchange
         * server, relay included, without authenticating. */
        if (!rc->enabled || !(rc->auth_mechanism & AUTHM_EXTERNAL_AUTHORITATIVE) ||
            !(rc->permission_groups & PERM_EXCHANGE_SERVERS) || !open_to_internet(rc))
            continue;
        snprintf(text, sizeof(text),
                 "Receive connector \"%s\" is an OPEN RELAY: ExternalAuthoritative with "
                 "ExchangeServers lets anyone its RemoteIPRanges admit send mail anywhere, and "
                 "they include the whole internet; limit RemoteIPRanges to your own servers",
                 rc->name);
        warn(arg, text);
    }
}
