/* One GError domain for the whole program: callers show err->message. */
#ifndef KEMU_ERROR_H
#define KEMU_ERROR_H

#include <glib.h>

#define KEMU_ERROR kemu_error_quark()
GQuark kemu_error_quark(void);

/* Set @errp (if non-NULL and still unset) to a formatted KEMU_ERROR. */
#define error_setg(errp, ...) g_set_error((errp), KEMU_ERROR, 0, __VA_ARGS__)

#endif
