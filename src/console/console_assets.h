/*
 * console_assets.h — the console's static files (src/console/www), built
 * into the binary by tools/embed_assets.py so that nothing is read from
 * disk or the network at run time.
 * Must never: name a file outside www.
 */
#ifndef POSTERN_CONSOLE_ASSETS_H
#define POSTERN_CONSOLE_ASSETS_H

#include <stddef.h>

struct console_asset {
    const char *path; /* "/index.html", "/static/app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/* The asset served at path, or NULL. */
const struct console_asset *console_asset_find(const char *path);

#endif
