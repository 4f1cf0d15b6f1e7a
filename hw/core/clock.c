/*
 * The virtual clock and timers (include/hw/clock.h). Timers sit in a list
 * sorted by deadline; a GSource on the main loop sleeps until the first.
 */
#include <stdatomic.h>
#include <time.h>
#include "hw/clock.h"

struct Timer {
    TimerCb cb;
    void *opaque;
    int64_t deadline;        /* -1: not pending */
    Timer *next;
};

static int64_t host_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/*
 * virtual = host - offset while running; while paused, virtual stays at
 * paused_at. The clock starts at 0 when first read.
 */
static GMutex clock_lock;
static bool clock_started, clock_paused;
static int64_t clock_offset, paused_at;

static Timer *timers;            /* sorted by deadline; guarded by the BQL */
static GMainContext *timer_ctx;

static void clock_start_locked(void)
{
    if (!clock_started) {
        clock_offset = host_ns();
        clock_started = true;
    }
}

int64_t clock_ns(void)
{
    int64_t now;

    g_mutex_lock(&clock_lock);
    clock_start_locked();
    now = clock_paused ? paused_at : host_ns() - clock_offset;
    g_mutex_unlock(&clock_lock);
    return now;
}

void clock_pause(void)
{
    g_mutex_lock(&clock_lock);
    clock_start_locked();
    if (!clock_paused) {
        paused_at = host_ns() - clock_offset;
        clock_paused = true;
    }
    g_mutex_unlock(&clock_lock);
}

void clock_resume(void)
{
    g_mutex_lock(&clock_lock);
    clock_start_locked();
    if (clock_paused) {
        clock_offset = host_ns() - paused_at;
        clock_paused = false;
    }
    g_mutex_unlock(&clock_lock);
    if (timer_ctx) {
        g_main_context_wakeup(timer_ctx);
    }
}

static bool clock_is_paused(void)
{
    g_mutex_lock(&clock_lock);
    bool p = clock_paused;
    g_mutex_unlock(&clock_lock);
    return p;
}

Timer *timer_new(TimerCb cb, void *opaque)
{
    Timer *t = g_new0(Timer, 1);

    t->cb = cb;
    t->opaque = opaque;
    t->deadline = -1;
    return t;
}

void timer_free(Timer *t)
{
    if (t) {
        timer_del(t);
        g_free(t);
    }
}

void timer_del(Timer *t)
{
    for (Timer **p = &timers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
    t->deadline = -1;
}

void timer_mod(Timer *t, int64_t deadline_ns)
{
    Timer **p;

    timer_del(t);
    if (deadline_ns < 0) {
        deadline_ns = 0;
    }
    t->deadline = deadline_ns;
    for (p = &timers; *p && (*p)->deadline <= deadline_ns; p = &(*p)->next) {
    }
    t->next = *p;
    *p = t;
    /* A new earliest deadline: the main loop must shorten its sleep. */
    if (timers == t && timer_ctx) {
        g_main_context_wakeup(timer_ctx);
    }
}

bool timer_pending(const Timer *t)
{
    return t->deadline >= 0;
}

int64_t timer_deadline(const Timer *t)
{
    return t->deadline;
}

int64_t timers_run_expired(void)
{
    if (clock_is_paused()) {
        return -1;
    }
    for (;;) {
        int64_t now = clock_ns();
        Timer *t = timers;
        if (!t) {
            return -1;
        }
        if (t->deadline > now) {
            return t->deadline - now;
        }
        /* Unlink before the call: the callback may re-arm the timer. */
        timers = t->next;
        t->next = NULL;
        t->deadline = -1;
        t->cb(t->opaque);
    }
}

static int64_t next_timeout_ns(void)
{
    if (!timers || clock_is_paused()) {
        return -1;
    }
    int64_t d = timers->deadline - clock_ns();
    return d < 0 ? 0 : d;
}

static gboolean timers_prepare(GSource *s, gint *timeout)
{
    (void)s;
    int64_t ns = next_timeout_ns();

    /* Round up so we never wake before the deadline and spin. */
    *timeout = ns < 0 ? -1 : (gint)MIN((ns + 999999) / 1000000, G_MAXINT);
    return ns == 0;
}

static gboolean timers_check(GSource *s)
{
    (void)s;
    return next_timeout_ns() == 0;
}

static gboolean timers_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    (void)s;
    (void)cb;
    (void)data;
    timers_run_expired();
    return G_SOURCE_CONTINUE;
}

/* The context may be freed after its source: stop waking it. */
static void timers_finalize(GSource *s)
{
    (void)s;
    timer_ctx = NULL;
}

static GSourceFuncs timers_funcs = {
    .prepare = timers_prepare,
    .check = timers_check,
    .dispatch = timers_dispatch,
    .finalize = timers_finalize,
};

GSource *timers_source_new(GMainContext *ctx)
{
    GSource *s = g_source_new(&timers_funcs, sizeof(GSource));

    timer_ctx = ctx;
    g_source_attach(s, ctx);
    return s;
}
