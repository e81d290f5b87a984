/* oakdata._speedups: capture()'s common case and the message ids, compiled.

The same work as the first branch of _capture.encode_capture and as _ids.new_ids, written
in C because in Python most of a capture's cost is the interpreter itself: a capture with
orjson ran ~25,000 instructions, of which orjson's encoding is ~3,500. Everything here
writes exactly what the Python code writes; tests/sdk/test_compiled.py runs both on the
same input. Anything out of the ordinary returns to Python: a capture this module does not
handle is passed to the general Python function it was built with, unchanged.

This file holds the capture encoder and the module; the ids are in _speedups_ids.c, the
JSON writing in _speedups_json.c.

The module keeps no lock of its own. Every function runs holding the GIL, and reads or
writes shared state only between calls into Python, so no other thread can see it half
written (a call into Python may let another thread run).
*/
#include <string.h>

#include "_speedups.h"

static PyObject *LIB_KEY, *LIB_VERSION_KEY, *EMPTY_STR, *ZERO;

typedef struct {
    PyObject_HEAD
    PyObject *general;      /* _capture.encode_general bound to its Encoder: all other cases */
    PyObject *dumps;        /* orjson.dumps, or None */
    PyObject *default_hook; /* the Encoder's default, for values JSON has no form for */
    PyObject *option;       /* orjson's option flags */
    PyObject *chunks;       /* the json package's C encoder, (value, 0) -> str parts; or None */
    PyObject *tail;         /* bytes: the library's properties and the message's end */
    PyObject *only_lib;     /* bytes: the properties when the caller gave none */
    PyObject *known_events; /* dict: event names already checked -> their JSON bytes */
    Py_ssize_t max_id_length;
    Py_ssize_t max_known_events;
} CaptureEncoder;

/* What _message requires of an id or event name: a plain str, 1 to max_length characters,
   not all whitespace. */
static int valid_id(PyObject *value, Py_ssize_t max_length) {
    if (!PyUnicode_CheckExact(value)) {
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(value);
    if (length == 0 || length > max_length) {
        return 0;
    }
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    for (Py_ssize_t i = 0; i < length; i++) {
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) {
            return 1;
        }
    }
    return 0;
}

/* The event name as JSON bytes, from the cache or checked and quoted now; NULL without an
   exception when the name is not one this file writes (the general path explains why). */
static PyObject *quoted_event(CaptureEncoder *self, PyObject *event) {
    if (!PyUnicode_CheckExact(event)) {
        return NULL;
    }
    PyObject *known = PyDict_GetItemWithError(self->known_events, event);
    if (known != NULL) {
        return Py_NewRef(known);
    }
    if (PyErr_Occurred() || !valid_id(event, self->max_id_length)) {
        return NULL;
    }
    PyObject *holder;
    Py_ssize_t length;
    const unsigned char *text = oak_utf8_of(event, &length, &holder);
    if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear(); /* a lone surrogate: the general path repairs it */
        }
        return NULL;
    }
    Py_ssize_t quoted_size = oak_quoted_length(text, length);
    PyObject *quoted = PyBytes_FromStringAndSize(NULL, quoted_size);
    if (quoted != NULL) {
        oak_write_quoted(PyBytes_AS_STRING(quoted), text, length, quoted_size);
        if (PyDict_GET_SIZE(self->known_events) < self->max_known_events &&
            PyDict_SetItem(self->known_events, event, quoted) < 0) {
            Py_CLEAR(quoted);
        }
    }
    Py_XDECREF(holder);
    return quoted;
}

/* The properties' JSON in *holder (bytes or str) and its UTF-8 in *json; 0 when the encoder
   refused them (the general path repairs what it can), -1 with an exception otherwise. */
static int encode_properties(CaptureEncoder *self, PyObject *properties, PyObject **holder,
                             const char **json, Py_ssize_t *length) {
    *holder = NULL;
    if (self->dumps != Py_None) {
        PyObject *args[3] = {properties, self->default_hook, self->option};
        *holder = PyObject_Vectorcall(self->dumps, args, 3, NULL);
        if (*holder != NULL && !PyBytes_Check(*holder)) {
            Py_CLEAR(*holder);
            PyErr_SetString(PyExc_TypeError, "dumps() did not return bytes");
        }
        if (*holder != NULL) {
            *json = PyBytes_AS_STRING(*holder);
            *length = PyBytes_GET_SIZE(*holder);
        }
    }
    else {
        PyObject *args[2] = {properties, ZERO};
        PyObject *parts = PyObject_Vectorcall(self->chunks, args, 2, NULL);
        if (parts != NULL) {
            *holder = PyUnicode_Join(EMPTY_STR, parts);
            Py_DECREF(parts);
        }
        if (*holder != NULL) {
            *json = PyUnicode_AsUTF8AndSize(*holder, length);
            if (*json == NULL) {
                Py_CLEAR(*holder);
            }
        }
    }
    if (*holder != NULL) {
        if (*length >= 2 && (*json)[*length - 1] == '}') {
            return 1;
        }
        Py_CLEAR(*holder);
        return 0;
    }
    /* What encode_within catches: the encoders' refusals, a lone surrogate, a cycle. */
    if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError) ||
        PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static const char PART_UUID[] = "{\"type\":\"capture\",\"uuid\":\"";
static const char PART_TIMESTAMP[] = "\",\"timestamp\":\"";
static const char PART_EVENT[] = "\",\"event\":";
static const char PART_DISTINCT_ID[] = ",\"distinct_id\":";
static const char PART_PROPERTIES[] = ",\"groups\":{},\"properties\":";

#define PUT(out, part) (memcpy((out), (part), sizeof(part) - 1), (out) + sizeof(part) - 1)

/* The message, or NULL: with an exception set for an error, without one for a capture
   that the general path must build. */
static PyObject *encode_common(CaptureEncoder *self, PyObject *distinct_id, PyObject *event,
                               PyObject *properties) {
    if (!valid_id(distinct_id, self->max_id_length)) {
        return NULL;
    }
    int has_properties = 0;
    if (properties != Py_None) {
        if (!PyDict_CheckExact(properties)) {
            return NULL;
        }
        int has_lib = PyDict_Contains(properties, LIB_KEY);
        if (has_lib == 0) {
            has_lib = PyDict_Contains(properties, LIB_VERSION_KEY);
        }
        if (has_lib != 0) {
            return NULL; /* set by the caller (or an error): the general path decides */
        }
        has_properties = PyDict_GET_SIZE(properties) > 0;
    }
    PyObject *event_json = quoted_event(self, event);
    if (event_json == NULL) {
        return NULL;
    }
    PyObject *id_holder = NULL, *json_holder = NULL, *data = NULL, *result = NULL;
    Buffer buffer;
    oak_buffer_init(&buffer);
    Py_ssize_t id_length = 0, json_length = 0;
    const char *json = NULL;
    const unsigned char *id_text = oak_utf8_of(distinct_id, &id_length, &id_holder);
    if (id_text == NULL) {
        goto done;
    }
    if (has_properties) {
        int written = oak_write_dict(&buffer, properties, 0);
        if (written == 1) {
            json = buffer.data;
            json_length = buffer.length;
        }
        else if (written < 0 ||
                 encode_properties(self, properties, &json_holder, &json, &json_length) <= 0) {
            goto done;
        }
    }
    char uuid[UUID_LENGTH], stamp[STAMP_LENGTH];
    if (oak_make_ids(uuid, stamp) < 0) {
        goto done;
    }
    Py_ssize_t id_quoted = oak_quoted_length(id_text, id_length);
    Py_ssize_t ending = has_properties ? json_length - 1 + PyBytes_GET_SIZE(self->tail)
                                       : PyBytes_GET_SIZE(self->only_lib);
    Py_ssize_t total = (Py_ssize_t)(sizeof(PART_UUID) + sizeof(PART_TIMESTAMP) +
                                    sizeof(PART_EVENT) + sizeof(PART_DISTINCT_ID) +
                                    sizeof(PART_PROPERTIES) - 5) +
                       UUID_LENGTH + STAMP_LENGTH + PyBytes_GET_SIZE(event_json) +
                       id_quoted + ending;
    data = PyBytes_FromStringAndSize(NULL, total);
    if (data == NULL) {
        goto done;
    }
    char *out = PUT(PyBytes_AS_STRING(data), PART_UUID);
    memcpy(out, uuid, UUID_LENGTH);
    out = PUT(out + UUID_LENGTH, PART_TIMESTAMP);
    memcpy(out, stamp, STAMP_LENGTH);
    out = PUT(out + STAMP_LENGTH, PART_EVENT);
    memcpy(out, PyBytes_AS_STRING(event_json), (size_t)PyBytes_GET_SIZE(event_json));
    out = PUT(out + PyBytes_GET_SIZE(event_json), PART_DISTINCT_ID);
    out = oak_write_quoted(out, id_text, id_length, id_quoted);
    out = PUT(out, PART_PROPERTIES);
    if (has_properties) {
        memcpy(out, json, (size_t)(json_length - 1));
        out += json_length - 1;
        memcpy(out, PyBytes_AS_STRING(self->tail), (size_t)PyBytes_GET_SIZE(self->tail));
    }
    else {
        memcpy(out, PyBytes_AS_STRING(self->only_lib), (size_t)PyBytes_GET_SIZE(self->only_lib));
    }
    PyObject *uuid_str = oak_ascii_str(uuid, UUID_LENGTH);
    if (uuid_str != NULL) {
        result = PyTuple_Pack(2, uuid_str, data);
        Py_DECREF(uuid_str);
    }
done:
    /* A lone surrogate in the id is the general path's to repair. */
    if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
    }
    Py_XDECREF(data);
    oak_buffer_free(&buffer);
    Py_XDECREF(json_holder);
    Py_XDECREF(id_holder);
    Py_DECREF(event_json);
    return result;
}

/* encode(distinct_id, event, properties, groups, timestamp, uuid) -> (uuid, bytes), as
   _capture.encode_capture; raises what it raises. */
static PyObject *CaptureEncoder_encode(CaptureEncoder *self, PyObject *const *args,
                                       Py_ssize_t nargs) {
    if (nargs == 6 && args[3] == Py_None && args[4] == Py_None && args[5] == Py_None) {
        PyObject *message = encode_common(self, args[0], args[1], args[2]);
        if (message != NULL || PyErr_Occurred()) {
            return message;
        }
    }
    return PyObject_Vectorcall(self->general, args, (size_t)nargs, NULL);
}

static PyObject *CaptureEncoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"general", "dumps", "default", "option", "chunks", "tail",
                               "only_lib", "max_id_length", "max_known_events", NULL};
    PyObject *general, *dumps, *default_hook, *option, *chunks, *tail, *only_lib;
    Py_ssize_t max_id_length, max_known_events;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOSSnn:CaptureEncoder", keywords,
                                     &general, &dumps, &default_hook, &option, &chunks, &tail,
                                     &only_lib, &max_id_length, &max_known_events)) {
        return NULL;
    }
    if (dumps == Py_None && chunks == Py_None) {
        PyErr_SetString(PyExc_ValueError, "CaptureEncoder needs dumps or chunks");
        return NULL;
    }
    CaptureEncoder *self = (CaptureEncoder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->known_events = PyDict_New();
    if (self->known_events == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->general = Py_NewRef(general);
    self->dumps = Py_NewRef(dumps);
    self->default_hook = Py_NewRef(default_hook);
    self->option = Py_NewRef(option);
    self->chunks = Py_NewRef(chunks);
    self->tail = Py_NewRef(tail);
    self->only_lib = Py_NewRef(only_lib);
    self->max_id_length = max_id_length;
    self->max_known_events = max_known_events;
    return (PyObject *)self;
}

static int CaptureEncoder_traverse(CaptureEncoder *self, visitproc visit, void *arg) {
    Py_VISIT(self->general);
    Py_VISIT(self->dumps);
    Py_VISIT(self->default_hook);
    Py_VISIT(self->option);
    Py_VISIT(self->chunks);
    Py_VISIT(self->known_events);
    return 0;
}

static int CaptureEncoder_clear(CaptureEncoder *self) {
    Py_CLEAR(self->general);
    Py_CLEAR(self->dumps);
    Py_CLEAR(self->default_hook);
    Py_CLEAR(self->option);
    Py_CLEAR(self->chunks);
    Py_CLEAR(self->tail);
    Py_CLEAR(self->only_lib);
    Py_CLEAR(self->known_events);
    return 0;
}

static void CaptureEncoder_dealloc(CaptureEncoder *self) {
    PyObject_GC_UnTrack(self);
    CaptureEncoder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *CaptureEncoder_known_events(CaptureEncoder *self, void *closure) {
    return PyDictProxy_New(self->known_events);
}

static PyMethodDef CaptureEncoder_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))CaptureEncoder_encode, METH_FASTCALL,
     "encode(distinct_id, event, properties, groups, timestamp, uuid) -> (uuid, bytes)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef CaptureEncoder_getset[] = {
    {"known_events", (getter)CaptureEncoder_known_events, NULL,
     "event names already checked, and their JSON", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CaptureEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "oakdata._speedups.CaptureEncoder",
    .tp_basicsize = sizeof(CaptureEncoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "capture()'s common case, compiled; see oakdata/_speedups.c",
    .tp_new = CaptureEncoder_new,
    .tp_traverse = (traverseproc)CaptureEncoder_traverse,
    .tp_clear = (inquiry)CaptureEncoder_clear,
    .tp_dealloc = (destructor)CaptureEncoder_dealloc,
    .tp_methods = CaptureEncoder_methods,
    .tp_getset = CaptureEncoder_getset,
};

/* ---- the module ------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"configure_ids", oak_configure_ids, METH_VARARGS,
     "configure_ids(clock, random_tail, utc_second): what new_ids() reads and draws from"},
    {"new_ids", oak_new_ids, METH_NOARGS, "new_ids() -> (uuid, timestamp), as _ids.new_ids"},
    {"reseed", oak_reseed, METH_NOARGS, "reseed(): in a forked child, draw a new id tail"},
    {"in_main_interpreter", oak_in_main_interpreter, METH_NOARGS,
     "in_main_interpreter() -> whether this is the interpreter the module may serve"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "oakdata._speedups",
    "capture()'s common case and the message ids, compiled; see _speedups.c", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    LIB_KEY = PyUnicode_InternFromString("$lib");
    LIB_VERSION_KEY = PyUnicode_InternFromString("$lib_version");
    EMPTY_STR = PyUnicode_New(0, 0);
    ZERO = PyLong_FromLong(0);
    oak_fill_extra();
    if (LIB_KEY == NULL || LIB_VERSION_KEY == NULL || EMPTY_STR == NULL || ZERO == NULL ||
        PyType_Ready(&CaptureEncoderType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    /* _compiled.API_VERSION: raised whenever what Python calls here changes, so that a stale
       build (an editable install not rebuilt since) is left unused rather than misused. */
    if (PyModule_AddIntConstant(module, "API_VERSION", 1) < 0 ||
        PyModule_AddObjectRef(module, "CaptureEncoder", (PyObject *)&CaptureEncoderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
