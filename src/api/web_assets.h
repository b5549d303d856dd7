/* api/web_assets.h: the files of web/, compiled into the binary by CMake
 * (see CMakeLists.txt), so the node serves its UI from any directory.
 * Owns:    constant data. Threads: any. */
#ifndef LL_API_WEB_ASSETS_H
#define LL_API_WEB_ASSETS_H

#include <stddef.h>

typedef struct ll_web_asset {
    const char *name; /* path under web/, e.g. "index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} ll_web_asset_t;

/* The asset called name, or NULL. */
const ll_web_asset_t *ll_web_asset(const char *name);

#endif
