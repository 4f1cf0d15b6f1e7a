/* The big device lock (see include/system/bql.h). */
#include <pthread.h>
#include "system/bql.h"

static pthread_mutex_t bql = PTHREAD_MUTEX_INITIALIZER;
static __thread bool bql_held;

void bql_lock(void)
{
    pthread_mutex_lock(&bql);
    bql_held = true;
}

void bql_unlock(void)
{
    bql_held = false;
    pthread_mutex_unlock(&bql);
}

bool bql_locked(void)
{
    return bql_held;
}
