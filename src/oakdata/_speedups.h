/* What the three files of oakdata's compiled module share: _speedups.c (the capture
   encoder and the module), _speedups_ids.c (message ids), _speedups_json.c (JSON strings
   and plain values). See _speedups.c. */
#ifndef OAKDATA_SPEEDUPS_H
#define OAKDATA_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define UUID_LENGTH 36   /* xxxxxxxx-xxxx-7xxx-vxxx-xxxxxxxxxxxx */
#define STAMP_LENGTH 27  /* YYYY-MM-DDTHH:MM:SS.mmmuuuZ */

extern const char oak_hex[]; /* "0123456789abcdef" */

/* _speedups_ids.c: _ids.new_ids, and the module functions that configure it */
int oak_make_ids(char *uuid, char *stamp);
PyObject *oak_ascii_str(const char *data, Py_ssize_t length);
PyObject *oak_new_ids(PyObject *module, PyObject *unused);
PyObject *oak_configure_ids(PyObject *module, PyObject *args);
PyObject *oak_in_main_interpreter(PyObject *module, PyObject *unused);
PyObject *oak_reseed(PyObject *module, PyObject *unused);

/* _speedups_json.c: JSON strings as the json package writes them, and plain values */
#define INLINE_BUFFER 1024

typedef struct {
    char *data;
    Py_ssize_t length;
    Py_ssize_t capacity;
    char inline_data[INLINE_BUFFER];
} Buffer;

void oak_fill_extra(void);
Py_ssize_t oak_quoted_length(const unsigned char *text, Py_ssize_t length);
char *oak_write_quoted(char *out, const unsigned char *text, Py_ssize_t length,
                       Py_ssize_t quoted);
const unsigned char *oak_utf8_of(PyObject *text, Py_ssize_t *length, PyObject **holder);
void oak_buffer_init(Buffer *buffer);
void oak_buffer_free(Buffer *buffer);
int oak_write_dict(Buffer *buffer, PyObject *dict, int depth);

#endif
