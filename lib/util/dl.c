/*
 * dl.c - loading a shared library on first use (see dl.h).
 *
 * Invariant: a library's pointers are written only under the lock, before done is set with
 * release order; a caller that sees done (acquire) sees them, and so do the threads it starts.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "util/dl.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int load(vs_dl_lib *l)
{
    /* RTLD_LOCAL: its symbols serve our pointers only, never the program's own lookups */
    void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(l->msg, sizeof l->msg, "cannot load %s: %s", l->what, why ? why : l->soname);
        return VF_EUNSUPPORTED;
    }
    for (size_t i = 0; i < l->nsyms; i++) {
        void *p = l->syms[i].data ? dlsym(RTLD_DEFAULT, l->syms[i].name) : NULL;
        if (!p)
            p = dlsym(h, l->syms[i].name);
        if (!p) {
            snprintf(l->msg, sizeof l->msg, "cannot load %s: '%s' has no symbol '%s'", l->what, l->soname,
                     l->syms[i].name);
            for (size_t j = 0; j < i; j++) /* all or none */
                *l->syms[j].at = NULL;
            return VF_EUNSUPPORTED;
        }
        *l->syms[i].at = p;
    }
    return 0;
}

int vs_dl_load(vs_dl_lib *l, vf_error *err)
{
    if (!atomic_load_explicit(&l->done, memory_order_acquire)) {
        pthread_mutex_lock(&lock);
        if (!atomic_load_explicit(&l->done, memory_order_relaxed)) {
            l->rc = load(l);
            atomic_store_explicit(&l->done, 1, memory_order_release);
        }
        pthread_mutex_unlock(&lock);
    }
    return l->rc ? vf_fail(err, l->rc, "%s", l->msg) : 0;
}
