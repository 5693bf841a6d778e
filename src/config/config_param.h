/*
 * config_param.h — the parameter tables: one table per object type
 * (TransportConfig, ReceiveConnector, SendConnector, AcceptedDomain,
 * Mailbox, DkimSigningConfig) naming each parameter as Exchange does,
 * with its type, field, default and limits.
 *
 * The file reader and writer, the cmdlets and Get- output all go through
 * these tables, so a parameter is spelled, parsed, bounded and printed the
 * same way everywhere. Value texts are what an administrator types:
 * "10 MB", "00:05:00", "Tls, BasicAuth", "$true", "0.0.0.0:25, [::]:25".
 *
 * Every pointer field of an object struct must have a table entry: deep
 * copy and free go by the tables (a new field without one is shared by a
 * clone and freed twice).
 *
 * Must never: leave a field half-changed when a value is refused, show a
 * CPF_SECRET field (password hashes) in Get- output, or show (or echo in
 * an error) the password part of a CPT_CREDENTIAL.
 */
#ifndef POSTERN_CONFIG_PARAM_H
#define POSTERN_CONFIG_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

enum config_kind {
    CONFIG_TRANSPORT,
    CONFIG_RECEIVE_CONNECTOR,
    CONFIG_SEND_CONNECTOR,
    CONFIG_ACCEPTED_DOMAIN,
    CONFIG_MAILBOX,
    CONFIG_DKIM_SIGNING, /* DkimSigningConfig */
    CONFIG_NKINDS
};

enum config_param_type {
    CPT_STRING,         /* char *; NULL is $null (unset) */
    CPT_DOMAIN,         /* char *: one domain name, lower-cased; CPF_WILDCARD allows "*.x" */
    CPT_ADDRESS,        /* char *: local@domain, domain lower-cased */
    CPT_BOOL,           /* bool */
    CPT_UINT,           /* uint64_t; CPF_UNLIMITED accepts "Unlimited" */
    CPT_BYTES,          /* uint64_t bytes: "10 MB (10,485,760 bytes)" */
    CPT_TIMESPAN,       /* uint64_t seconds: "00:05:00", "1.00:00:00" */
    CPT_ENUM,           /* an enum stored as int, names from .names; CPF_NULLABLE: $null is 0 */
    CPT_FLAGS,          /* unsigned flags, names from .names; the name of 0 ("None") alone */
    CPT_CREDENTIAL,     /* char *: "user:password"; Get- shows the user only; the user alone
                           in the char * at .count_offset ("user:*redacted*": that only) */
    CPT_PASSWORD_HASH,  /* char *: a crypt(3) string; "*redacted*" sets the bool at
                           .count_offset instead */
    CPT_LMTP,           /* char *: "host:port", "[v6]:port" or "/absolute/socket" */
    CPT_BINDINGS,       /* struct binding *, count at .count_offset */
    CPT_IPRANGES,       /* struct iprange *, count at .count_offset */
    CPT_DOMAINS,        /* char **, count at .count_offset; no wildcards */
    CPT_ADDRESS_SPACES, /* struct address_space *: "[SMTP:]space[;cost]" */
    CPT_SMART_HOSTS,    /* char **: FQDNs, IPv4 literals, "[v6]" literals */
    CPT_SERVERS,        /* char **: server (instance) names, host names */
    CPT_DNS_SERVERS,    /* char **: "IP" or "IP@port", normalised */
};

/* Parameter flags. */
#define CPF_UNLIMITED 0x01 /* "Unlimited" is accepted (CONFIG_UNLIMITED) */
#define CPF_REQUIRED 0x02  /* must be set (checked by config_validate) */
#define CPF_SECRET 0x04    /* never displayed by Get- */
#define CPF_FILE_ONLY 0x08 /* set only in the file (a cmdlet sets it another way) */
#define CPF_NEW_ONLY 0x10  /* settable by New-, not by Set- */
#define CPF_WILDCARD 0x20  /* CPT_DOMAIN: "*.contoso.com" allowed */
#define CPF_NAME 0x40      /* the object's name, written in its section header */
#define CPF_NO_SET 0x80    /* not a cmdlet parameter (Default: -MakeDefault sets it) */
#define CPF_NULLABLE 0x100 /* CPT_ENUM: "$null" or "" is value 0, shown empty */

struct config_enum_name {
    const char *name; /* Exchange's spelling; NULL ends the list */
    unsigned value;
};

struct config_param {
    const char *name;  /* Exchange name */
    const char *alias; /* another accepted name, or NULL */
    enum config_param_type type;
    size_t offset;       /* of the field in the object struct */
    size_t count_offset; /* lists: of the size_t element count; CPT_CREDENTIAL and
                            CPT_PASSWORD_HASH: of their companion field (above) */
    const struct config_enum_name *names;
    uint64_t min, max; /* CPT_UINT/BYTES/TIMESPAN bounds */
    unsigned flags;
    const char *def; /* default as value text; NULL: unset / empty list */
};

struct config_kind_info {
    enum config_kind kind;
    const char *name; /* "ReceiveConnector": section header and messages */
    const struct config_param *params;
    size_t nparams;
    size_t size;         /* of the object struct */
    bool singleton;      /* TransportConfig: exactly one, without a name */
    size_t array_offset; /* in struct config: the array (or the object if singleton) */
    size_t count_offset; /* in struct config: its count */
};

const struct config_kind_info *config_kind(enum config_kind kind);
/* Case-insensitive; NULL when unknown. */
const struct config_kind_info *config_kind_by_name(const char *name);
/* By name or alias, case-insensitive; NULL when unknown. */
const struct config_param *config_param_find(const struct config_kind_info *k, const char *name);
/* The CPF_NAME parameter of a named kind, NULL for the singleton. */
const struct config_param *config_param_name(const struct config_kind_info *k);

/* config_param_parse flags. */
#define CONFIG_PARSE_QUOTED 0x01 /* the text was quoted in the file: "$null" is literal */
#define CONFIG_PARSE_CMDLET 0x02 /* lists take @{Add=...;Remove=...} */

/* Parses text into the field of obj that p describes. Returns 0, or -1 with
 * only the reason in err (callers prefix object and parameter); the field
 * is then unchanged. */
int config_param_parse(const struct config_param *p, void *obj, const char *text, unsigned flags,
                       char *err, size_t errlen);

enum config_format_style {
    CONFIG_FORMAT_FILE,    /* lists "a, b"; unset strings "" */
    CONFIG_FORMAT_DISPLAY, /* Get-: lists "{a, b}" */
};

/* The field as text, malloc'd. */
char *config_param_format(const struct config_param *p, const void *obj,
                          enum config_format_style style);

/* A char * field (strings, domains, addresses, credentials, hashes, LMTP
 * targets): freed, copied and quoted in the file as a string. */
bool config_string_type(enum config_param_type type);
/* A field that holds a secret: wiped before it is freed. */
bool config_secret_type(enum config_param_type type);

/* List parameters and the comma-list syntax (config_list.c), for
 * config_param.c. */
bool config_list_type(enum config_param_type type);
int config_list_parse(const struct config_param *p, void *obj, const char *text, unsigned flags,
                      char *err, size_t errlen);
void config_list_format(const struct config_param *p, const void *obj,
                        enum config_format_style style, FILE *f);
void config_list_free(const struct config_param *p, void *obj);
/* Replaces the list of obj (a shallow copy) by a deep copy. */
void config_list_copy(const struct config_param *p, void *obj);
/* "a, 'b', {c}" into trimmed, unquoted items; 0 for "", "{}", $null. */
size_t config_split_items(const char *text, unsigned flags, char ***items);
void config_items_free(char **items, size_t n);
/* s[0..n) trimmed, one pair of matching outer quotes removed, malloc'd. */
char *config_item_dup(const char *s, size_t n);
/* "$null", unless the text was quoted in the file. */
bool config_is_null_text(const char *text, unsigned flags);

/* Object fields: defaults from the table, deep free, deep copy. */
void config_object_init(const struct config_kind_info *k, void *obj);
void config_object_free(const struct config_kind_info *k, void *obj);
void config_object_copy(const struct config_kind_info *k, void *dst, const void *src);

/* Objects of a kind held by cfg (config.c). The pointer from
 * config_object_append is valid until the next append or remove. */
void *config_objects(const struct config *cfg, enum config_kind kind, size_t *n);
void *config_object_at(const struct config *cfg, enum config_kind kind, size_t index);
void *config_object_append(struct config *cfg, enum config_kind kind);
void config_object_remove(struct config *cfg, enum config_kind kind, size_t index);
/* The object's name, or NULL (TransportConfig). */
const char *config_object_name(const struct config_kind_info *k, const void *obj);
/* 'ReceiveConnector "Default mail"', or 'TransportConfig'. */
void config_object_label(const struct config_kind_info *k, const void *obj, char *buf, size_t len);
/* Finds by name, case-insensitively; a mailbox also by PrimarySmtpAddress
 * and an accepted domain by DomainName. */
bool config_object_find(const struct config *cfg, enum config_kind kind, const char *identity,
                        size_t *index);

/* Where config_validate found a fault: the object and, when one is to
 * blame, the parameter (the file reader turns this into a line number). */
struct config_fault {
    enum config_kind kind;
    size_t index;
    const struct config_param *param; /* NULL: the object as a whole */
};

/* config_validate, also telling where. err holds 'Object: Parameter: reason'. */
int config_validate_fault(const struct config *cfg, struct config_fault *fault, char *err,
                          size_t errlen);

/* The whole postern.conf text, malloc'd (config_file.c): config_format
 * without the length. */
char *config_format_text(const struct config *cfg);

/* Value helpers (config_value.c), shared with the cmdlets and the tests. */
bool config_parse_bool(const char *text, bool *out);
/* Decimal digits only (blanks around allowed); false on overflow. */
bool config_u64_parse(const char *text, uint64_t *out);
int config_bytes_parse(const char *text, bool unlimited_ok, uint64_t *out, char *err,
                       size_t errlen);
/* "10 MB (10,485,760 bytes)", "Unlimited". */
void config_bytes_format(uint64_t bytes, char *buf, size_t len);
int config_timespan_parse(const char *text, uint64_t *seconds, char *err, size_t errlen);
/* "00:05:00", "1.00:00:00". */
void config_timespan_format(uint64_t seconds, char *buf, size_t len);
bool config_address_valid(const char *s);

/* Routing values (config_value_net.c). Parsers return 0, or -1 with the
 * reason only in err; *out is malloc'd. */
/* "contoso.com", "*.contoso.com" or "*", optional "SMTP:" prefix, optional
 * ";cost" (1-100, default 1). */
int config_address_space_parse(const char *text, struct address_space *out, char *err,
                               size_t errlen);
/* "SMTP:contoso.com;1", Exchange's display form. */
void config_address_space_format(const struct address_space *as, char *buf, size_t len);
/* A host name (lower-cased), an IPv4 literal (bare or in brackets) or an
 * IPv6 literal (bare or in brackets; stored "[v6]"). */
int config_smart_host_parse(const char *text, char **out, char *err, size_t errlen);
/* A server name: a host name or FQDN, case kept. */
int config_server_name_parse(const char *text, char **out, char *err, size_t errlen);
/* "IP" or "IP@port" (IPv4 or IPv6), stored normalised ("2001:db8::1@5353"). */
int config_dns_server_parse(const char *text, char **out, char *err, size_t errlen);
/* "host:port", "[v6]:port" (port 1-65535) or an absolute socket path. */
int config_lmtp_server_check(const char *text, char *err, size_t errlen);
/* "user:password", user not empty. The reason never quotes the text. */
int config_credential_check(const char *text, char *err, size_t errlen);

#endif
