/*
 * probe.h — one outbound connection run from the command line exactly as
 * delivery runs it (outbound.h: the same resolution, address order, EHLO
 * name, STARTTLS and certificate checks, client certificate and AUTH),
 * with the instance's certificates, DNS servers and stored credential,
 * watched step by step and ended with RSET and QUIT once mail could be
 * sent: the engine of Test-SendConnector and Test-SmtpConnectivity
 * (cmdlet_probe.c), and the resolver of Test-MailRoute.
 *
 * Must never: send a transaction (MAIL FROM is never reached), print or
 * keep a password beyond the connection, or run longer than its bounds.
 */
#ifndef POSTERN_PROBE_H
#define POSTERN_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "outbound/smtp_client.h"
#include "routing/route_policy.h"

/* An inactivity bound for a probe: a peer that stops answering should
 * not hold an administrator's prompt for the connector's 10 minutes. */
#define PROBE_TIMEOUT_MAX 60

/* One connection attempt, as seen from this side. "" where the step was
 * not reached. */
struct probe_attempt {
    char peer[320];             /* "mx.b.test[192.0.2.1]:25" */
    char greeting[512];         /* the banner's first line */
    char capabilities[768];     /* of the first EHLO: "PIPELINING, SIZE 10240000, STARTTLS" */
    char tls_capabilities[768]; /* of the EHLO inside TLS */
    char auth_offered[256];     /* "PLAIN LOGIN", of the last EHLO */
    char starttls[512];         /* the reply to STARTTLS, or why it was not sent */
    char tls_version[32];
    char tls_cipher[96];
    char chain[4096];    /* tls_peer_chain_text */
    char trust[600];     /* the chain against the trusted roots and the peer's name */
    char check[600];     /* the connector's own certificate check, when it makes one */
    char auth[600];      /* the reply to AUTH, or why it was not tried */
    char rset[512];      /* the reply to the final RSET */
    enum smtp_step step; /* the step it reached (or failed at) */
    bool ready;          /* mail could have been sent */
    char error[600];     /* why it ended, when it failed */
};

struct probe_result {
    char resolved[1024]; /* what the lookup found, or "" when nothing was looked up */
    struct probe_attempt *attempts;
    size_t nattempts;
    bool success; /* some attempt was ready, as delivery would have been */
    /* On failure: the step that failed and why (the last attempt's). */
    const char *failed_step;
    char error[600];
};

struct probe_env;

/* The loop, resolver (ExternalDNSServers or the system's) and, with
 * tls, the certificate store (with private keys) of instance_dir for cfg,
 * which must outlive it and hold the secrets (the credential is read from
 * it). NULL with err. */
struct probe_env *probe_env_new(const char *instance_dir, const struct config *cfg, bool tls,
                                char *err, size_t errlen);
void probe_env_free(struct probe_env *env);

/* Runs p (status OK) to the first ready connection or the end. Always
 * fills out (free it with probe_result_free). */
void probe_run(struct probe_env *env, const struct route_policy *p, struct probe_result *out);
void probe_result_free(struct probe_result *r);

/* The name of a step in reports: "Connect", "STARTTLS", "AUTH" ... */
const char *probe_step_name(enum smtp_step step);

/* The addresses of p's next hop in the order delivery would try them
 * (dns_result_text), or the lookup's error; out is "" when p needs no
 * lookup (an address or a socket). */
void probe_resolve(struct probe_env *env, const struct route_policy *p, char *out, size_t outlen);

/* The resolver of env, and a wait on its loop until *done (each DNS query
 * ends by its own deadline), for the lookups of probe_tls.c. */
struct dns *probe_env_dns(struct probe_env *env);
void probe_env_wait(struct probe_env *env, const bool *done);

/* Test-MailRoute's account of the TLS a DNS-routed or smart-host hop would
 * get, looked up now: whether DNS answers validate, each host's DANE
 * records, the recipient domain's MTA-STS policy (cached and published),
 * and per host which of them decides and why (Format-List lines to out). */
void probe_tls_explain(struct probe_env *env, const struct route_policy *p,
                       const char *instance_dir, FILE *out);

#endif
